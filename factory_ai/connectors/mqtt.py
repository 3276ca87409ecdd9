"""``mqtt``: sensor readings from JSON or Sparkplug B messages; verdicts and alerts published back.

Why it is built this way:

- **No reading lost across a broker restart.** The client keeps a persistent session
  (``clean_session=False`` under a fixed client id) and subscribes with QoS 1, so the broker
  holds messages while we are away and redelivers unacknowledged ones. paho acknowledges a
  message only after ``on_message`` returns, and ``on_message`` returns only once the reading
  sits in the writer's queue. Redeliveries are harmless: (sensor, timestamp) is unique.
- **Backpressure.** When the writer's queue is full, ``on_message`` waits, paho stops reading
  the socket, and the broker keeps the backlog: memory stays flat.
- **Bad payloads cost one message.** Invalid JSON, a missing field or a non-number is counted
  and logged; the connector keeps running.

A message on ``plant/line1/pump-07/telemetry`` with ``{"ts": "...", "vib": {"rms": 2.1}}`` and
``asset_from_topic = -2``, ``fields = [{field = "vib.rms", sensor = "vibration"}]`` becomes one
reading of pump-07's vibration.

With ``payload = "sparkplug_b"`` the connector is a Sparkplug B host application
(``connectors/sparkplug.py``): births name the metrics, data arrives by alias, deaths and seq
gaps show in /health and in ``connector_down`` alerts, and a node that lost a message is asked
to rebirth. With ``group`` and ``edge_node`` it is also an edge node of its own that publishes
verdicts and alerts.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import ssl
import time
from datetime import UTC, datetime
from typing import Any

from factory_ai.connectors import sparkplug
from factory_ai.connectors.base import Connector
from factory_ai.connectors.config import Mqtt
from factory_ai.connectors.waveform import waveform_readings
from factory_ai.ingest import ReadingWriter, SensorReading

log = logging.getLogger(__name__)
MAX_PAYLOAD = 4 * 1024 * 1024  # bytes; a waveform snapshot of 256k float samples fits, a flood does not


def field_value(payload: Any, path: str) -> Any:
    """``payload["a"]["b"][0]`` for ``"a.b.0"``; KeyError naming the first missing part."""
    value = payload
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            raise KeyError(part)
    return value


def parse_timestamp(value: Any) -> datetime:
    """ISO 8601 text (a zone is required) or epoch seconds / milliseconds, as UTC."""
    if isinstance(value, bool):
        raise ValueError(f"timestamp {value!r} is not a time")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"timestamp {value!r} is not finite")
        seconds = value / 1000.0 if abs(value) > 1e11 else float(value)  # milliseconds after 1973
        return datetime.fromtimestamp(seconds, UTC)
    if isinstance(value, str):
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if ts.tzinfo is None:
            raise ValueError(f"timestamp {value!r} has no time zone")
        return ts.astimezone(UTC)
    raise ValueError(f"timestamp {value!r} is neither text nor a number")


def topic_level(topic: str, index: int) -> str:
    levels = topic.split("/")
    if not -len(levels) <= index < len(levels):
        raise KeyError(f"topic {topic!r} has no level {index}")
    return levels[index]


class MqttConnector(Connector):
    kind = "mqtt"

    def __init__(self, config: Mqtt, writer: ReadingWriter) -> None:
        super().__init__(config.name)
        self.config, self.writer = config, writer
        self.client = None
        self._refused = False
        self.state.detail.update(broker=f"{config.host}:{config.port}", published=0)
        self.book: sparkplug.HostBook | None = None
        self.edge: sparkplug.EdgeNode | None = None
        self._asked: dict[str, float] = {}  # edge node -> when it was last asked to rebirth
        if config.payload == "sparkplug_b":
            self.book = sparkplug.HostBook()
            self.state.detail.update(rebirth_requests=0)
            self.state.live = self._sparkplug_state
            self._fields = {f.field: f for f in config.fields}
            if config.group and config.edge_node:
                self.edge = sparkplug.EdgeNode(config.group, config.edge_node, self._publish_raw)

    # -- readings in ---------------------------------------------------------------------------
    def readings(self, topic: str, payload: bytes) -> list[SensorReading]:
        """The readings in one message; ValueError/KeyError saying why there are none."""
        if self.book is not None:
            return self._sparkplug_readings(topic, payload)
        try:
            data = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"payload is not JSON ({exc})") from None
        asset = topic_level(topic, self.config.asset_from_topic)
        ts = (parse_timestamp(field_value(data, self.config.timestamp_field)) if self.config.timestamp_field
              else datetime.now(UTC))
        out = []
        for mapping in self.config.fields:
            try:
                value = field_value(data, mapping.field)
            except KeyError:
                continue  # a message may carry only some fields
            if mapping.mode == "accelerometer":
                out += waveform_readings(asset, mapping, ts, value, f"field {mapping.field!r}")
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"field {mapping.field!r} is {value!r}, not a number")
            out.append(SensorReading(asset, mapping.sensor, ts, float(value), mapping.unit))
        if not out:
            raise KeyError(f"none of the fields {', '.join(m.field for m in self.config.fields)} is in the payload")
        return out

    def _sparkplug_readings(self, topic: str, payload: bytes) -> list[SensorReading]:
        """A Sparkplug B message's numeric metrics as readings of the device (or edge node)."""
        assert self.book is not None
        where = sparkplug.parse_topic(topic)
        if self.edge is not None and where.group == self.edge.group and where.edge == self.edge.edge:
            if where.kind == "NCMD" and _asks_rebirth(payload):
                log.info("%s: a host asked our edge node for a rebirth", self.name)
                self.edge.birth()
            return []  # our own births and data coming back
        values = self.book.read(where, payload)
        if values is None:
            return []
        if values.rebirth:
            self._ask_rebirth(where)
        if values.unknown_aliases:
            self.malformed(f"message on {topic}: {values.unknown_aliases} metrics by an alias no birth declared "
                           "(asked the edge node to rebirth)")
        if values.bad_metrics:
            self.malformed(f"message on {topic}: {values.bad_metrics} metrics skipped (an impossible timestamp, or "
                           "an array of a torn or oversized length)")
        asset = values.device or where.edge
        out = []
        for name, ts, value in values.points:
            mapping = self._fields.get(name)
            if self._fields and mapping is None:
                continue
            if mapping is not None and mapping.mode == "accelerometer":
                try:
                    out += waveform_readings(asset, mapping, ts, value, f"metric {name!r} of {asset}")
                except ValueError as exc:
                    self.malformed(f"message on {topic}: {exc}")  # one bad snapshot costs only itself
            elif not isinstance(value, float):
                if mapping is not None:  # the field was meant to be read, and nothing would say why it is not
                    self.malformed(f"message on {topic}: metric {name!r} is an array of {len(value)} values, but "
                                   f"its field reads single values (mode = \"accelerometer\" reads waveforms)")
                continue  # an array that no field asks for is not a reading
            elif mapping is not None:
                out.append(SensorReading(asset, mapping.sensor, ts, value, mapping.unit))
            else:
                out.append(SensorReading(asset, name.replace("/", "."), ts, value, None))
        return out

    def _ask_rebirth(self, where: sparkplug.Topic) -> None:
        """NCMD Node Control/Rebirth, at most once per 10 s per node (the spec's way to recover)."""
        if not self.config.rebirth_requests or self.client is None:
            return
        now = time.monotonic()
        if now - self._asked.get(where.node, -1e9) < 10.0:
            return
        self._asked[where.node] = now
        self.client.publish(sparkplug.topic(where.group, "NCMD", where.edge), sparkplug.rebirth_request(), qos=0)
        self.state.detail["rebirth_requests"] += 1
        log.info("%s: asked Sparkplug edge node %s to rebirth", self.name, where.node)

    def _sparkplug_state(self) -> dict[str, Any]:
        assert self.book is not None
        return {"sparkplug": self.book.state(), "parts_down": self.book.down()}

    def _on_message(self, client, userdata, message) -> None:  # noqa: ANN001
        if len(message.payload) > MAX_PAYLOAD:
            self.malformed(f"message on {message.topic} skipped: {len(message.payload):,} bytes (limit {MAX_PAYLOAD:,})")
            return
        try:
            batch = self.readings(message.topic, message.payload)
        except (ValueError, KeyError) as exc:
            self.malformed(f"message on {message.topic} skipped: {exc}")
            return
        except Exception as exc:  # noqa: BLE001 - an exception here would end paho's network thread
            self.malformed(f"message on {message.topic} skipped: {type(exc).__name__}: {exc}")
            return
        if not batch:
            return
        while not self.stopping.is_set():
            try:
                accepted = self.writer.put_many(batch, timeout=1.0)
                break
            except queue.Full:
                continue  # backpressure: hold the message (and the broker's backlog) until there is room
        else:
            return
        if accepted < len(batch):
            self.malformed(f"message on {message.topic}: {len(batch) - accepted} readings refused (NaN or similar)")
        self.data(accepted)

    # -- verdicts and alerts out ----------------------------------------------------------------
    def publish_verdict(self, verdict: dict[str, Any]) -> None:
        if self.edge is not None:
            self.edge.verdict(verdict)
        elif self.config.verdict_topic:
            self._publish(self.config.verdict_topic.format(line=verdict.get("line") or "default"), verdict)

    def publish_alert(self, alert: dict[str, Any]) -> None:
        if self.edge is not None:
            self.edge.alert(alert)
        elif self.config.alert_topic:
            self._publish(self.config.alert_topic.format(severity=alert.get("severity", "info")), alert)

    @property
    def publishes_alerts(self) -> bool:
        return self.edge is not None or bool(self.config.alert_topic)

    def _publish_raw(self, topic: str, payload: bytes) -> None:
        """Sparkplug B messages go out at QoS 0, as the specification asks; the will is QoS 1.
        Raises when the broker is away, so an alert's delivery stays in the outbox."""
        if self.client is None or not self.client.is_connected():
            raise ConnectionError(f"{self.name}: not connected to {self.config.host}:{self.config.port}")
        info = self.client.publish(topic, payload, qos=0)
        if info.rc != 0:
            raise ConnectionError(f"{self.name}: publish to {topic} failed (rc {info.rc})")
        self.state.detail["published"] += 1

    def _publish(self, topic: str, payload: dict[str, Any]) -> None:
        if self.client is None:
            raise RuntimeError(f"{self.name}: not started")
        # paho queues the message while the broker is away and sends it on reconnect (QoS 1).
        self.client.publish(topic, json.dumps(payload, default=str), qos=self.config.qos)
        self.state.detail["published"] += 1

    # -- connection ----------------------------------------------------------------------------
    def run(self) -> None:
        import paho.mqtt.client as mqtt

        config = self.config
        # JSON: a persistent session, so the broker keeps readings while we are away. Sparkplug B
        # asks for clean sessions (stale commands must not be replayed); births recover the state.
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=config.client_id or f"factory-ai-{self.name}",
                             clean_session=config.payload == "sparkplug_b", protocol=mqtt.MQTTv311)
        if config.username:
            client.username_pw_set(config.username, config.password)
        if config.tls:
            client.tls_set(ca_certs=str(config.ca_file) if config.ca_file else None, cert_reqs=ssl.CERT_REQUIRED)
        if self.edge is not None:
            client.will_set(*self.edge.death(), qos=1, retain=False)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self.client = client
        try:
            client.connect_async(config.host, config.port, keepalive=30)
        except (OSError, ValueError) as exc:
            self.failed(f"cannot connect to {config.host}:{config.port}: {exc}")
        client.loop_start()  # paho's thread: reads, acknowledges, reconnects with backoff
        self.stopping.wait()

    def close(self) -> None:
        if self.client is not None:
            try:
                if self.edge is not None and self.state.up:
                    # A clean disconnect suppresses the will, so the death certificate is sent by hand.
                    info = self.client.publish(*self.edge.death(), qos=1)
                    info.wait_for_publish(timeout=2.0)
            except (RuntimeError, ValueError) as exc:
                log.warning("%s: the death certificate did not go out: %s", self.name, exc)
            finally:
                self.client.disconnect()
                self.client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if reason_code.is_failure:
            self._refused = True  # the disconnect that follows must not hide the reason
            self.failed(f"broker {self.config.host}:{self.config.port} refused the connection: {reason_code}")
            return
        self._refused = False
        # Subscribing again on every connect is harmless with a persistent session and needed
        # when the broker lost it (restarted without persistence).
        topics = list(self.config.topics)
        if self.edge is not None:
            topics.append(sparkplug.topic(self.edge.group, "NCMD", self.edge.edge))
        client.subscribe([(topic, self.config.qos) for topic in dict.fromkeys(topics)])
        self.state.up, self.state.last_error = True, None
        if self.edge is not None:
            self.edge.birth()
        log.info("%s: connected to %s:%d (session %s)", self.name, self.config.host, self.config.port,
                 "resumed" if flags.session_present else "new")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if self.edge is not None:
            self.edge.connection_lost()
            client.will_set(*self.edge.death(), qos=1, retain=False)  # the next session's death certificate
        if not self.stopping.is_set() and not self._refused:
            self.failed(f"lost the broker {self.config.host}:{self.config.port} ({reason_code}); reconnecting")


def _asks_rebirth(payload: bytes) -> bool:
    try:
        message = sparkplug.decode(payload)
    except ValueError:
        return False
    return any(m.name == sparkplug.REBIRTH and m.boolean_value for m in message.metrics)
