"""The OPC UA connector against a real asyncua server on 127.0.0.1."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from sqlmodel import select

from factory_ai.connectors.config import OpcUa
from factory_ai.connectors.opcua import OpcUaConnector
from factory_ai.ingest import ReadingWriter
from factory_ai.store import Store
from factory_ai.store.tables import Reading, Sensor
from tests.servers import wait_until

pytest.importorskip("asyncua")
pytestmark = pytest.mark.slow




def _config(server, **extra) -> OpcUa:  # noqa: ANN001
    return OpcUa.model_validate({
        "kind": "opcua", "name": "press-opc", "endpoint": server.endpoint, "publishing_interval_ms": 50,
        "reconnect_max_seconds": 2, "reject_node": server.node_id("Reject"),
        "nodes": [{"node": server.node_id("Temperature"), "asset": "press-1", "sensor": "temperature", "unit": "degC"},
                  {"node": server.node_id("Pressure"), "asset": "press-1", "sensor": "pressure", "unit": "bar"}],
        **extra})


def _values(store: Store, sensor: str) -> list[float]:
    with store.session() as session:
        return list(session.exec(select(Reading.value).join(Sensor, Sensor.id == Reading.sensor_id)
                                 .where(Sensor.name == sensor).order_by(Reading.ts)).all())


@pytest.fixture
def env(tmp_path: Path):
    store = Store(f"sqlite:///{tmp_path / 'factory.db'}")
    writer = ReadingWriter(store, tmp_path / "spool", flush_interval=0.05)
    yield store, writer
    writer.close()
    store.close()


def test_subscribes_writes_reject_bit_and_reconnects(env) -> None:  # noqa: ANN001
    from tests.servers import OpcUaServer

    store, writer = env
    server = OpcUaServer()
    server.start()
    connector = OpcUaConnector(_config(server), writer)
    try:
        connector.start()
        assert wait_until(lambda: connector.state.up and connector.state.received >= 2), connector.state
        for value in (21.0, 22.5, 24.0):
            server.set("Temperature", value)
            time.sleep(0.2)
        server.set("Temperature", float("nan"))  # a sensor fault: NaN is counted as malformed, skipped
        assert wait_until(lambda: connector.state.malformed == 1)
        server.set("Temperature", 25.0)
        assert wait_until(lambda: (writer.flush() and _values(store, "temperature")[-1:] == [25.0]))
        assert _values(store, "temperature")[-4:] == [21.0, 22.5, 24.0, 25.0]

        # The reject gate: a rejecting verdict sets the bit, a passing one clears it.
        connector.publish_verdict({"verdict": "reject"}).result(5)
        assert server.get("Reject") is True
        connector.publish_verdict({"verdict": "pass"}).result(5)
        assert server.get("Reject") is False
        assert connector.state.detail["reject_writes"] == 2

        # The server restarts: the connector notices, reconnects and subscribes again.
        port = server.port
        server.stop()
        assert wait_until(lambda: not connector.state.up)
        server = OpcUaServer(port=port)
        server.start()
        assert wait_until(lambda: connector.state.up, 30), connector.state
        time.sleep(0.5)
        server.set("Temperature", 31.0)
        assert wait_until(lambda: (writer.flush() and _values(store, "temperature")[-1:] == [31.0]))
        assert connector.state.detail["reconnects"] >= 1
    finally:
        connector.stop()
        server.stop()


def test_accelerometer_array_node_becomes_vibration_features(env) -> None:  # noqa: ANN001
    """A vibration gateway exposes each snapshot as an array variable: the connector stores its
    vibration features, as the MQTT connector does for a list in a payload, and a bad snapshot
    costs only itself."""
    import numpy as np

    from tests.servers import OpcUaServer

    store, writer = env
    server = OpcUaServer()
    server.start()
    config = _config(server, nodes=[
        {"node": server.node_id("Vibration"), "asset": "pump-07", "sensor": "bearing_h", "mode": "accelerometer",
         "rate_hz": 25600, "fault_hz": {"bpfo": 107.0}},
        {"node": server.node_id("Temperature"), "asset": "pump-07", "sensor": "temperature"}])
    connector = OpcUaConnector(config, writer)
    t = np.arange(2560) / 25600.0
    ringing = np.sin(2 * np.pi * 5000 * t) * (0.5 + 0.5 * np.cos(2 * np.pi * 107.0 * t))
    try:
        connector.start()
        # The node's first value, eight zeros, is too short to be a snapshot: counted, not stored.
        assert wait_until(lambda: connector.state.up and connector.state.malformed == 1), connector.state
        server.set("Vibration", [float(v) for v in ringing])
        assert wait_until(lambda: writer.flush() and len(_values(store, "bearing_h_env_bpfo")) == 1), connector.state
        server.set("Vibration", [1.0, 2.0])
        assert wait_until(lambda: connector.state.malformed == 2), connector.state
        writer.flush()
        with store.session() as session:
            units = dict(session.exec(select(Sensor.name, Sensor.unit)).all())
        assert _values(store, "bearing_h_rms") == [pytest.approx(float(np.sqrt(np.mean(ringing**2))), rel=1e-3)]
        assert _values(store, "bearing_h_band_3000_6000")[0] > 10 * _values(store, "bearing_h_band_10_1000")[0]
        assert _values(store, "bearing_h_env_bpfo")[0] > 0.1 and units["bearing_h_vel_rms"] == "mm/s"
        assert _values(store, "temperature") == [20.0]
    finally:
        connector.stop()
        server.stop()


def test_accelerometer_node_needs_its_sample_rate() -> None:
    from factory_ai.connectors.config import FieldMap

    with pytest.raises(ValueError, match="node 'ns=2;s=Press1.Vibration': mode accelerometer needs rate_hz"):
        OpcUa.model_validate({"kind": "opcua", "endpoint": "opc.tcp://127.0.0.1:4840/", "nodes": [
            {"node": "ns=2;s=Press1.Vibration", "asset": "pump-07", "sensor": "bearing_h", "mode": "accelerometer"}]})
    with pytest.raises(ValueError, match="field 'acc': mode accelerometer needs rate_hz"):
        FieldMap.model_validate({"field": "acc", "sensor": "bearing_h", "mode": "accelerometer"})


def test_user_and_password_login(env) -> None:  # noqa: ANN001
    from tests.servers import OpcUaServer

    store, writer = env
    server = OpcUaServer(users={"line1": "s3cret"})
    server.start()
    wrong = OpcUaConnector(_config(server, name="wrong", username="line1", password="nope"), writer)
    right = OpcUaConnector(_config(server, name="right", username="line1", password="s3cret"), writer)
    try:
        wrong.start()
        right.start()
        assert wait_until(lambda: right.state.up and right.state.received >= 2)
        assert wait_until(lambda: wrong.state.errors >= 1)
        assert not wrong.state.up and wrong.state.received == 0
        assert "Bad" in (wrong.state.last_error or "") or "denied" in (wrong.state.last_error or "").lower()
    finally:
        wrong.stop()
        right.stop()
        server.stop()


def test_encrypted_session_with_certificates(env, tmp_path: Path) -> None:  # noqa: ANN001
    """Basic256Sha256 / SignAndEncrypt: the server offers nothing else, the connector signs in
    with its own certificate (its application URI taken from the certificate)."""
    from tests.servers import OpcUaServer, self_signed

    store, writer = env
    server_cert, server_key = self_signed(tmp_path, "press-plc", "urn:factory-ai:test:server", server=True)
    client_cert, client_key = self_signed(tmp_path, "factory-ai", "urn:factory-ai:plant:line1", server=False)
    server = OpcUaServer(certificate=server_cert, private_key=server_key)
    server.start()
    plain = OpcUaConnector(_config(server, name="plain"), writer)
    trusted = tmp_path / "trusted"
    trusted.mkdir()
    shutil.copy(server_cert, trusted)
    secure = OpcUaConnector(_config(server, name="secure", security_policy="Basic256Sha256",
                                    security_mode="SignAndEncrypt", certificate=str(client_cert),
                                    private_key=str(client_key), trust=str(trusted)), writer)
    try:
        plain.start()
        secure.start()
        assert wait_until(lambda: secure.state.up and secure.state.received >= 2, 30), secure.state
        server.set("Pressure", 6.5)
        assert wait_until(lambda: (writer.flush() and _values(store, "pressure")[-1:] == [6.5]))
        assert wait_until(lambda: plain.state.errors >= 1)
        assert not plain.state.up  # the server refuses unencrypted sessions
    finally:
        plain.stop()
        secure.stop()
        server.stop()


@pytest.mark.parametrize("policy", ["Aes128Sha256RsaOaep", "Aes256Sha256RsaPss"])
def test_only_trusted_server_certificates_are_accepted(env, tmp_path: Path, policy: str) -> None:  # noqa: ANN001
    """A trust folder holding the server's certificate: subscribed. One holding another
    server's: refused, and /health says why. trust = "any": subscribed, and /health says that
    the server was not verified."""
    from tests.servers import OpcUaServer, self_signed

    store, writer = env
    server_cert, server_key = self_signed(tmp_path, "press-plc", "urn:factory-ai:test:server", server=True)
    other = tmp_path / "other"
    other.mkdir()
    stranger_cert, _ = self_signed(other, "another-plc", "urn:factory-ai:test:other", server=True)
    client_cert, client_key = self_signed(tmp_path, "factory-ai", "urn:factory-ai:plant:line1", server=False)
    trusted = tmp_path / "trusted"
    trusted.mkdir()
    shutil.copy(server_cert, trusted)
    (other / "another-plc.pem").unlink()  # the folder holds certificates only
    server = OpcUaServer(certificate=server_cert, private_key=server_key, policy=f"{policy}_SignAndEncrypt")
    server.start()
    secure = {"security_policy": policy, "security_mode": "SignAndEncrypt", "certificate": str(client_cert),
              "private_key": str(client_key)}
    known = OpcUaConnector(_config(server, name="known", trust=str(trusted), **secure), writer)
    unknown = OpcUaConnector(_config(server, name="unknown", trust=str(other), **secure), writer)
    anyone = OpcUaConnector(_config(server, name="anyone", trust="any", **secure), writer)
    try:
        for connector in (known, unknown, anyone):
            connector.start()
        assert wait_until(lambda: known.state.up and known.state.received >= 2, 30), known.state
        assert wait_until(lambda: anyone.state.up, 30), anyone.state
        assert wait_until(lambda: unknown.state.errors >= 1, 30), unknown.state
        assert not unknown.state.up
        health = unknown.state.as_dict()
        assert "refused the server certificate" in health["last_error"] and "press-plc" in health["last_error"]
        assert "unverified" in anyone.state.as_dict()["trust"]  # what /health shows for the connector
        assert str(trusted) in known.state.as_dict()["trust"]
    finally:
        for connector in (known, unknown, anyone):
            connector.stop()
        server.stop()
