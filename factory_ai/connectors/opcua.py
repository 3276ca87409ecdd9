"""``opcua``: subscribe to data changes on an OPC UA server; write the reject bit back.

Why it is built this way:

- **Subscriptions, not polling.** The server pushes a value when it changes (sampled at
  ``publishing_interval_ms``), with the source's own timestamp, which is the time stored.
- **Reconnect with backoff.** A PLC reboots, a switch drops: the connector probes the server
  every second, and on failure tears the session down and reconnects (1 s, 2 s, 4 s ... up to
  ``reconnect_max_seconds``), subscribing again each time. Readings missed while away are
  gone (OPC UA keeps no history for a subscription); the gap is visible in /health.
- **One asyncio loop in the connector's thread.** asyncua is asynchronous; the daemon is not.
  The reject-bit write is handed to that loop from whatever thread judged the image.
"""

from __future__ import annotations

import asyncio
import logging
import math
import queue
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from factory_ai.connectors.base import Connector
from factory_ai.connectors.config import OpcUa
from factory_ai.connectors.waveform import waveform_readings
from factory_ai.ingest import ReadingWriter, SensorReading

log = logging.getLogger(__name__)


def certificate_uri(path) -> str | None:  # noqa: ANN001
    """The application URI in a certificate's subject alternative names (DER or PEM), if any."""
    from cryptography import x509

    data = open(path, "rb").read()
    try:
        cert = x509.load_der_x509_certificate(data)
    except ValueError:
        cert = x509.load_pem_x509_certificate(data)
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    uris = names.get_values_for_type(x509.UniformResourceIdentifier)
    return uris[0] if uris else None


async def server_validator(trust):  # noqa: ANN001, ANN201 - a Path or "any"; asyncua's validator or None
    """The check of the server's certificate at connect: its time range and that it (or its
    issuer) is in the ``trust`` folder; None for ``trust = "any"``."""
    if trust == "any":
        return None
    from asyncua.crypto.truststore import TrustStore
    from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions

    folder = Path(trust)
    if not folder.is_dir():
        raise ValueError(f"trust folder {folder} does not exist")
    store = TrustStore([folder], [])
    await store.load()
    options = (CertificateValidatorOptions.TIME_RANGE | CertificateValidatorOptions.TRUSTED
               | CertificateValidatorOptions.PEER_SERVER)
    validator = CertificateValidator(options, store)

    async def check(cert, description) -> None:  # noqa: ANN001
        try:
            await validator(cert, description)
        except Exception as exc:
            subject = cert.subject.rfc4514_string()
            raise UntrustedServer(f"refused the server certificate {subject!r}: {type(exc).__name__} "
                                  f"({getattr(exc, 'code', '')}); not in the trust folder {folder}, or expired") from exc

    return check


class UntrustedServer(Exception):
    """The OPC UA server's certificate is not trusted: never retried silently, always said."""


class OpcUaConnector(Connector):
    kind = "opcua"

    def __init__(self, config: OpcUa, writer: ReadingWriter, *, reject_verdicts: tuple[str, ...] = ("reject",)) -> None:
        super().__init__(config.name)
        self.config, self.writer = config, writer
        self.reject_verdicts = reject_verdicts
        self.loop: asyncio.AbstractEventLoop | None = None
        self.client = None
        self._by_node: dict[str, Any] = {}
        self.state.detail.update(endpoint=config.endpoint, reconnects=0, reject_writes=0)

    # -- the connector thread ------------------------------------------------------------------
    def run(self) -> None:
        self.loop = asyncio.new_event_loop()
        try:
            self.loop.run_until_complete(self._main())
        finally:
            self.loop.close()

    async def _main(self) -> None:
        delay = 1.0
        while not self.stopping.is_set():
            try:
                await self._session()
                delay = 1.0
            except Exception as exc:  # noqa: BLE001 - any failure: reconnect after a pause
                self.failed(f"{self.config.endpoint}: {type(exc).__name__}: {exc}; reconnecting in {delay:.0f} s")
                await self._disconnect()
                for _ in range(int(delay * 10)):
                    if self.stopping.is_set():
                        return
                    await asyncio.sleep(0.1)
                delay = min(delay * 2, self.config.reconnect_max_seconds)
                self.state.detail["reconnects"] += 1

    async def _session(self) -> None:
        from asyncua import Client

        config = self.config
        client = Client(config.endpoint, timeout=4)
        if config.username:
            client.set_user(config.username)
            client.set_password(config.password or "")
        if config.security_policy != "None":
            if config.certificate is None or config.private_key is None:
                raise ValueError(f"security policy {config.security_policy} needs certificate and private_key")
            if config.security_mode == "None":
                raise ValueError(f"security policy {config.security_policy} needs security_mode Sign or SignAndEncrypt")
            uri = certificate_uri(config.certificate)
            if uri:  # servers check that the session's application URI is the certificate's
                client.application_uri = uri
            await client.set_security_string(
                f"{config.security_policy},{config.security_mode},{config.certificate},{config.private_key}")
            client.certificate_validator = await server_validator(config.trust)
            self.state.detail["trust"] = ("any server (unverified: set trust to a folder of server certificates)"
                                          if config.trust == "any" else f"server certificates in {config.trust}")
        self.client = client
        await client.connect()
        nodes = [client.get_node(m.node) for m in config.nodes]
        self._by_node = {node.nodeid.to_string(): mapping for node, mapping in zip(nodes, config.nodes, strict=True)}
        subscription = await client.create_subscription(config.publishing_interval_ms, self)
        await subscription.subscribe_data_change(nodes)
        self.state.up, self.state.last_error = True, None
        log.info("%s: subscribed to %d nodes on %s", self.name, len(nodes), config.endpoint)
        while not self.stopping.is_set():
            await asyncio.sleep(1.0)
            await client.nodes.server_state.read_value()  # raises when the server is gone
        await self._disconnect()

    async def _disconnect(self) -> None:
        client, self.client = self.client, None
        self.state.up = False
        if client is not None:
            try:
                await asyncio.wait_for(client.disconnect(), 2.0)
            except Exception:  # noqa: BLE001 - the link is already broken
                pass

    # -- asyncua's subscription handler interface ----------------------------------------------
    def datachange_notification(self, node, val, data) -> None:  # noqa: ANN001
        mapping = self._by_node.get(node.nodeid.to_string())
        if mapping is None:
            return
        value = data.monitored_item.Value
        ts = value.SourceTimestamp or value.ServerTimestamp or datetime.now(UTC)
        ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)  # asyncua gives naive UTC
        if mapping.mode == "accelerometer":
            try:
                readings = waveform_readings(mapping.asset, mapping, ts, val, f"node {mapping.node} ({mapping.sensor})")
            except ValueError as exc:
                self.malformed(str(exc))
                return
        elif isinstance(val, bool) or not isinstance(val, int | float) or not math.isfinite(float(val)):
            self.malformed(f"node {mapping.node} ({mapping.sensor}) sent {val!r}, not a finite number")
            return
        else:
            readings = [SensorReading(mapping.asset, mapping.sensor, ts, float(val), mapping.unit)]
        # asyncua calls this on its event loop: never block it on a full queue for long. A
        # subscription cannot redeliver, so a value that finds no room is lost: count it.
        try:
            accepted = self.writer.put_many(readings, timeout=5.0)
        except queue.Full:
            self.state.detail["dropped"] = self.state.detail.get("dropped", 0) + 1
            self.failed("the reading queue stayed full for 5 s: values are being dropped")
            return
        self.data(accepted)

    def status_change_notification(self, status) -> None:  # noqa: ANN001
        log.warning("%s: subscription status changed: %s", self.name, status)

    # -- the reject gate -------------------------------------------------------------------------
    def publish_verdict(self, verdict: dict[str, Any]) -> Future | None:
        """Write the reject bit (True for a rejecting verdict) without waiting for the answer."""
        if not self.config.reject_node or self.loop is None or self.client is None:
            return None
        value = verdict.get("verdict") in self.reject_verdicts
        future = asyncio.run_coroutine_threadsafe(self._write_reject(value), self.loop)
        future.add_done_callback(self._written)
        return future

    async def _write_reject(self, value: bool) -> None:
        from asyncua import ua

        if self.client is None:
            raise ConnectionError("not connected")
        node = self.client.get_node(self.config.reject_node)
        await node.write_value(ua.DataValue(ua.Variant(value, ua.VariantType.Boolean)))

    def _written(self, future: Future) -> None:
        if future.exception() is not None:
            self.failed(f"could not write the reject bit {self.config.reject_node}: {future.exception()}")
        else:
            self.state.detail["reject_writes"] += 1

    def close(self) -> None:
        pass  # run() notices ``stopping`` within a second and disconnects
