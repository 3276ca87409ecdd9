"""The MQTT connector against a real Mosquitto broker on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import select

from factory_ai.connectors.config import Mqtt
from factory_ai.connectors.mqtt import MqttConnector, field_value, parse_timestamp
from factory_ai.ingest import ReadingWriter
from factory_ai.store import Store
from factory_ai.store.tables import Reading, Sensor
from tests.servers import wait_until

pytestmark = pytest.mark.slow

paho = pytest.importorskip("paho.mqtt.client")


def _config(port: int, **extra) -> Mqtt:
    return Mqtt.model_validate({
        "kind": "mqtt", "name": "line1-mqtt", "host": "127.0.0.1", "port": port, "topics": ["plant/+/+/telemetry"],
        "asset_from_topic": -2, "timestamp_field": "ts", "client_id": "factory-ai-test",
        "fields": [{"field": "vib.rms", "sensor": "vibration", "unit": "mm/s"},
                   {"field": "temp", "sensor": "temperature", "unit": "degC"}],
        **extra})


def _client(port: int, client_id: str, clean: bool = True):
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean,
                         protocol=paho.MQTTv311)
    client.reconnect_delay_set(min_delay=1, max_delay=2)
    client.connect(("127.0.0.1"), port)
    client.loop_start()
    return client




def _count(store: Store, sensor: str | None = None) -> int:
    with store.session() as session:
        query = select(func.count()).select_from(Reading)
        if sensor:
            query = query.join(Sensor, Sensor.id == Reading.sensor_id).where(Sensor.name == sensor)
        return session.exec(query).one()


@pytest.fixture
def store(tmp_path: Path):
    store = Store(f"sqlite:///{tmp_path / 'factory.db'}")
    yield store
    store.close()


def test_payload_helpers_follow_paths_and_times() -> None:
    payload = {"a": {"b": [1, {"c": 2.5}]}}
    assert field_value(payload, "a.b.1.c") == 2.5
    with pytest.raises(KeyError):
        field_value(payload, "a.x")
    assert parse_timestamp("2026-03-01T12:00:00Z") == datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert parse_timestamp(1_700_000_000) == parse_timestamp(1_700_000_000_000)  # seconds or milliseconds
    with pytest.raises(ValueError, match="time zone"):
        parse_timestamp("2026-03-01T12:00:00")


def test_readings_in_malformed_counted_verdicts_out(mosquitto, store: Store, tmp_path: Path) -> None:
    writer = ReadingWriter(store, tmp_path / "spool", flush_interval=0.05)
    connector = MqttConnector(_config(mosquitto.port, verdict_topic="plant/{line}/verdicts",
                                      alert_topic="plant/alerts/{severity}"), writer)
    connector.start()
    assert wait_until(lambda: connector.state.up, 10), connector.state
    heard: list[tuple[str, dict]] = []
    listener = _client(mosquitto.port, "listener")
    listener.on_message = lambda c, u, m: heard.append((m.topic, json.loads(m.payload)))
    listener.subscribe([("plant/+/verdicts", 1), ("plant/alerts/#", 1)])
    publisher = _client(mosquitto.port, "sensor-gateway")
    good = {"ts": "2026-03-01T12:00:00Z", "vib": {"rms": 2.5}, "temp": 61.0}
    for payload in [good, b"{not json", {"ts": "2026-03-01T12:00:01Z", "vib": {"rms": "high"}},
                    {"ts": "2026-03-01T12:00:02Z", "other": 1}, {"ts": "2026-03-01T12:00:03Z", "temp": float("nan")},
                    {"ts": "2026-03-01T12:00:04Z", "temp": 62.0}]:
        body = payload if isinstance(payload, bytes) else json.dumps(payload)
        publisher.publish("plant/line1/pump-07/telemetry", body, qos=1).wait_for_publish(5)
    assert wait_until(lambda: connector.state.received == 3 and connector.state.malformed == 4, 10), connector.state
    writer.flush()
    assert _count(store) == 3  # two from the first message, one from the last
    assert connector.state.up  # bad messages cost themselves only

    time.sleep(0.3)  # the listener's subscription is in place
    connector.publish_verdict({"line": "line1", "verdict": "reject", "label": "crack"})
    connector.publish_alert({"severity": "critical", "message": "pump-07 bearing"})
    assert wait_until(lambda: len(heard) == 2, 10), heard
    assert ("plant/line1/verdicts", {"line": "line1", "verdict": "reject", "label": "crack"}) in heard
    assert any(topic == "plant/alerts/critical" for topic, _ in heard)
    for client in (listener, publisher):
        client.loop_stop()
        client.disconnect()
    connector.stop()
    writer.close()


def test_broker_restart_mid_stream_loses_no_reading(mosquitto, store: Store, tmp_path: Path) -> None:
    """QoS 1 with persistent sessions on both ends: the broker goes down and comes back while
    messages flow, and every reading still arrives exactly once in the store."""
    writer = ReadingWriter(store, tmp_path / "spool", flush_interval=0.05)
    connector = MqttConnector(_config(mosquitto.port), writer)
    connector.start()
    assert wait_until(lambda: connector.state.up, 10)
    publisher = _client(mosquitto.port, "gateway-1", clean=False)
    acked: set[int] = set()
    publisher.on_publish = lambda client, userdata, mid, reason, properties: acked.add(mid)
    total, infos = 3000, []
    start = datetime(2026, 3, 1, tzinfo=UTC).timestamp()
    restarted = threading.Event()

    def restart_broker() -> None:
        mosquitto.stop()
        time.sleep(1.5)
        mosquitto.start()
        restarted.set()

    for i in range(total):
        payload = json.dumps({"ts": start + i, "vib": {"rms": i / 100}})
        infos.append(publisher.publish(f"plant/line1/pump-{i % 3:02d}/telemetry", payload, qos=1))
        if i == 1000:
            threading.Thread(target=restart_broker).start()
        time.sleep(0.001)
    assert restarted.wait(30)
    # Messages published while the broker was down were queued by the client (rc "not
    # connected"); all of them must be acknowledged by the broker after the restart.
    assert wait_until(lambda: len(acked) >= total, 60), f"{len(acked)} of {total} acknowledged by the broker"
    assert wait_until(lambda: writer.stats.accepted >= total, 60), (writer.stats, connector.state)
    writer.flush()
    assert _count(store, "vibration") == total
    assert connector.state.errors >= 1  # it did notice the broker going away
    assert connector.state.up
    publisher.loop_stop()
    publisher.disconnect()
    connector.stop()
    writer.close()


def test_tls_and_password_login(store: Store, tmp_path: Path) -> None:
    """A broker that speaks only TLS and knows only one user: the connector with the CA file and
    the right password gets in and receives; one with a wrong password is refused and says so."""
    from tests.servers import Unavailable, start_mosquitto

    try:
        broker = start_mosquitto(users={"line1": "s3cret", "gateway": "gw-pass"})
    except Unavailable as exc:
        pytest.skip(f"secure MQTT test skipped: {exc}")
    writer = ReadingWriter(store, tmp_path / "spool", flush_interval=0.05)
    secure = dict(tls=True, ca_file=str(broker.folder / "ca.pem"))
    right = MqttConnector(_config(broker.port, username="line1", password="s3cret", **secure), writer)
    wrong = MqttConnector(_config(broker.port, name="wrong", client_id="wrong", username="line1", password="nope",
                                  **secure), writer)
    try:
        right.start()
        wrong.start()
        assert wait_until(lambda: right.state.up, 15), right.state
        assert wait_until(lambda: wrong.state.errors >= 1, 15)
        assert not wrong.state.up and "refused" in wrong.state.last_error
        gateway = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="gateway")
        gateway.username_pw_set("gateway", "gw-pass")
        gateway.tls_set(ca_certs=str(broker.folder / "ca.pem"))
        gateway.connect("127.0.0.1", broker.port)
        gateway.loop_start()
        gateway.publish("plant/line1/pump-01/telemetry", json.dumps({"ts": 1_767_225_600, "temp": 55.5}),
                        qos=1).wait_for_publish(10)
        assert wait_until(lambda: right.state.received == 1, 15)
        writer.flush()
        assert _count(store, "temperature") == 1
        gateway.loop_stop()
        gateway.disconnect()
    finally:
        right.stop()
        wrong.stop()
        writer.close()
        broker.close()


def test_accelerometer_snapshots_become_vibration_features(mosquitto, store: Store, tmp_path: Path) -> None:
    """A gateway publishes raw waveform snapshots; the connector stores what a rotating-equipment
    engineer reads (RMS, bands, velocity, the envelope at the bearing's fault frequency), and a
    snapshot that is not one costs only itself."""
    import numpy as np

    writer = ReadingWriter(store, tmp_path / "spool", flush_interval=0.05)
    config = _config(mosquitto.port, fields=[
        {"field": "acc", "sensor": "bearing_h", "mode": "accelerometer", "rate_hz": 25600,
         "fault_hz": {"bpfo": 107.0}},
        {"field": "temp", "sensor": "temperature"}])
    connector = MqttConnector(config, writer)
    connector.start()
    assert wait_until(lambda: connector.state.up, 10), connector.state
    publisher = _client(mosquitto.port, "vibration-gateway")
    t = np.arange(2560) / 25600.0
    ringing = np.sin(2 * np.pi * 5000 * t) * (0.5 + 0.5 * np.cos(2 * np.pi * 107.0 * t))
    for payload in [{"ts": "2026-03-01T12:00:00Z", "acc": ringing.round(5).tolist(), "temp": 40.0},
                    {"ts": "2026-03-01T12:00:10Z", "acc": [0.1, 0.2]},  # too short to be a snapshot
                    {"ts": "2026-03-01T12:00:20Z", "acc": ["x"] * 100}]:
        publisher.publish("plant/line1/pump-07/telemetry", json.dumps(payload), qos=1).wait_for_publish(5)
    # 11 features of the snapshot (4 statistics, 5 bands, velocity, the envelope at BPFO) and the temperature
    assert wait_until(lambda: connector.state.received == 12 and connector.state.malformed == 2, 10), connector.state
    writer.flush()
    with store.session() as session:
        stored = dict(session.exec(select(Sensor.name, Reading.value).join(Reading, Reading.sensor_id == Sensor.id)).all())
        units = dict(session.exec(select(Sensor.name, Sensor.unit)).all())
    assert stored["temperature"] == 40.0
    assert stored["bearing_h_rms"] == pytest.approx(float(np.sqrt(np.mean(ringing**2))), rel=1e-3)
    assert stored["bearing_h_band_3000_6000"] > 10 * stored["bearing_h_band_10_1000"]
    assert stored["bearing_h_env_bpfo"] > 0.1 and units["bearing_h_vel_rms"] == "mm/s"
    publisher.loop_stop()
    publisher.disconnect()
    connector.stop()
    writer.close()
