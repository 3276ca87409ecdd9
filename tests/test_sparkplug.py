"""Sparkplug B: the codec, and the MQTT connector as host and edge node against a real Mosquitto.

The edge node in these tests is simulated with the same protobuf schema the connector reads
(``factory_ai.connectors.sparkplug``) and paho, publishing to the real broker: births with
aliases, data by alias with its own timestamps, a death certificate left as the MQTT will and
delivered by the broker when the connection is killed, a seq gap, and a rebirth on request.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import select

from factory_ai.alerts import config as alert_config
from factory_ai.alerts.rules import _connector_down
from factory_ai.connectors import sparkplug as spb
from factory_ai.connectors.config import Mqtt
from factory_ai.connectors.mqtt import MqttConnector
from factory_ai.ingest import ReadingWriter
from factory_ai.store import Store
from factory_ai.store.tables import Asset, Reading, Sensor
from tests.servers import wait_until

paho = pytest.importorskip("paho.mqtt.client")

T0 = int(datetime(2026, 3, 1, 12, tzinfo=UTC).timestamp() * 1000)


def test_payload_round_trip_signed_values_and_topics() -> None:
    data = spb.encode([("Motor/Temp", 1, spb.DOUBLE, 71.25), ("Offset", 2, spb.INT32, -5), ("Big", 3, spb.INT64, -2),
                       ("Small", 4, spb.INT8, -3), ("Running", 5, spb.BOOLEAN, True), ("Note", 6, spb.STRING, "ok"),
                       ("Missing", 7, spb.FLOAT, None)], seq=4, timestamp=T0)
    payload = spb.decode(data)
    assert payload.seq == 4 and payload.timestamp == T0
    numbers = {m.name: spb.metric_number(m) for m in payload.metrics}
    assert numbers == {"Motor/Temp": 71.25, "Offset": -5.0, "Big": -2.0, "Small": -3.0, "Running": 1.0, "Note": None,
                       "Missing": None}
    old_style = spb.Payload()  # an Int8 written in its own width by an older encoder
    metric = old_style.metrics.add(name="x", datatype=spb.INT8, int_value=253)
    assert spb.metric_number(metric) == -3.0
    with pytest.raises(ValueError, match="not a Sparkplug B protobuf"):
        spb.decode(b"\xff\xff\xff")
    assert spb.parse_topic("spBv1.0/plant1/DDATA/edge-7/press-1") == spb.Topic("DDATA", "plant1", "edge-7", "press-1")
    assert spb.parse_topic("spBv1.0/plant1/NBIRTH/edge-7").device is None
    assert spb.parse_topic("spBv1.0/STATE/scada-1").host == "scada-1"
    for bad in ("spBv1.0/plant1/DDATA/edge-7", "plant/line1/x/telemetry", "spBv1.0/plant1/NDATA/edge-7/dev"):
        with pytest.raises(ValueError):
            spb.parse_topic(bad)


def test_config_keeps_the_two_payloads_apart() -> None:
    spb_conf = Mqtt.model_validate({"kind": "mqtt", "name": "s", "payload": "sparkplug_b"})
    assert spb_conf.topics == ["spBv1.0/#"] and spb_conf.fields == []
    with pytest.raises(ValueError, match="topics and fields"):
        Mqtt.model_validate({"kind": "mqtt", "name": "j", "topics": ["a/#"]})
    with pytest.raises(ValueError, match="both group and edge_node"):
        Mqtt.model_validate({"kind": "mqtt", "name": "s", "payload": "sparkplug_b", "group": "g"})
    with pytest.raises(ValueError, match="free of"):
        Mqtt.model_validate({"kind": "mqtt", "name": "s", "payload": "sparkplug_b", "group": "g/h", "edge_node": "e"})


class EdgeNodeSim:
    """A Sparkplug B edge node with one device, as a PLC gateway would run it."""

    def __init__(self, port: int, bd_seq: int, group: str = "plant1", edge: str = "gw-1") -> None:
        self.group, self.edge, self.bd_seq, self.seq = group, edge, bd_seq, 0
        self.commands: list[str] = []
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"{edge}-{bd_seq}")
        self.client.will_set(spb.topic(group, "NDEATH", edge), spb.encode([("bdSeq", None, spb.INT64, bd_seq)],
                                                                          seq=None), qos=1)
        self.client.on_message = self._command
        self.client.connect("127.0.0.1", port, keepalive=5)
        self.client.loop_start()
        self.client.subscribe(spb.topic(group, "NCMD", edge), qos=0)
        time.sleep(0.2)

    def _command(self, client, userdata, message) -> None:  # noqa: ANN001
        payload = spb.decode(message.payload)
        self.commands += [m.name for m in payload.metrics if m.boolean_value]
        if spb.REBIRTH in self.commands:
            threading.Thread(target=self.births).start()

    def send(self, kind: str, metrics: list, device: str | None = None, seq: int | None = None,
             timestamp: int = T0) -> None:
        if seq is None:
            seq, self.seq = self.seq, (self.seq + 1) % 256
        info = self.client.publish(spb.topic(self.group, kind, self.edge, device),
                                   spb.encode(metrics, seq=seq, timestamp=timestamp), qos=0)
        info.wait_for_publish(5)

    def births(self, temp: float = 60.0) -> None:
        self.seq = 0
        self.send("NBIRTH", [("bdSeq", None, spb.INT64, self.bd_seq), (spb.REBIRTH, None, spb.BOOLEAN, False),
                             ("Cabinet/Temp", 1, spb.FLOAT, 30.5)])
        self.send("DBIRTH", [("Hydraulics/Pressure", 10, spb.DOUBLE, 180.0), ("Motor/Temp", 11, spb.DOUBLE, temp),
                             ("Motor/Running", 12, spb.BOOLEAN, True), ("Serial", 13, spb.STRING, "A-17")], "press-1")

    def data(self, t_ms: int, pressure: float, temp: float, seq: int | None = None) -> None:
        payload_metrics = []
        for alias, value in ((10, pressure), (11, temp)):
            payload_metrics.append((None, alias, spb.DOUBLE, value))
        data = spb.Payload(timestamp=T0, seq=self.seq if seq is None else seq)
        for _, alias, kind, value in payload_metrics:
            metric = data.metrics.add(alias=alias, timestamp=t_ms)
            spb.set_value(metric, kind, value)
            metric.ClearField("datatype")  # data by alias: the type is the birth's (specification 3.0)
        if seq is None:
            self.seq = (self.seq + 1) % 256
        self.client.publish(spb.topic(self.group, "DDATA", self.edge, "press-1"), data.SerializeToString(),
                            qos=0).wait_for_publish(5)

    def kill(self) -> None:
        """Drop the TCP connection without DISCONNECT: the broker sends the will (NDEATH)."""
        self.client.loop_stop()
        self.client.socket().close()


def _readings(store: Store) -> dict[tuple[str, str], list[tuple[datetime, float]]]:
    out: dict[tuple[str, str], list] = {}
    with store.session() as session:
        rows = session.exec(select(Asset.name, Sensor.name, Reading.ts, Reading.value)
                            .join(Sensor, Sensor.id == Reading.sensor_id).join(Asset, Asset.id == Sensor.asset_id)
                            .order_by(Reading.ts)).all()
    for asset, sensor, ts, value in rows:
        out.setdefault((asset, sensor), []).append((ts, value))
    return out


@pytest.fixture
def store(tmp_path: Path):
    store = Store(f"sqlite:///{tmp_path / 'factory.db'}")
    yield store
    store.close()


def test_births_aliases_death_gap_and_rebirth_through_a_real_broker(mosquitto, store: Store, tmp_path: Path) -> None:
    writer = ReadingWriter(store, tmp_path / "spool", flush_interval=0.05)
    connector = MqttConnector(Mqtt.model_validate({"kind": "mqtt", "name": "scada", "port": mosquitto.port,
                                                   "payload": "sparkplug_b", "client_id": "factory-ai-spb"}), writer)
    connector.start()
    assert wait_until(lambda: connector.state.up, 10), connector.state
    edge = EdgeNodeSim(mosquitto.port, bd_seq=0)
    try:
        edge.births()
        for i in range(5):
            edge.data(T0 + 1000 * (i + 1), 181.0 + i, 61.0 + i)
        assert wait_until(lambda: connector.state.received == 4 + 10, 10), connector.state.as_dict()
        writer.flush()
        readings = _readings(store)
        # Births carry current values; data arrives by alias, each value with its own time.
        assert [v for _, v in readings[("press-1", "Hydraulics.Pressure")]] == [180.0, 181, 182, 183, 184, 185]
        assert readings[("press-1", "Motor.Running")] == [(readings[("press-1", "Motor.Running")][0][0], 1.0)]
        assert readings[("gw-1", "Cabinet.Temp")][0][1] == 30.5
        stamps = [ts.replace(tzinfo=UTC) for ts, _ in readings[("press-1", "Motor.Temp")]]
        assert stamps[1] == datetime.fromtimestamp((T0 + 1000) / 1000, UTC)
        assert ("press-1", "Serial") not in readings  # text is not a sensor reading
        node = connector.state.as_dict()["sparkplug"]["nodes"]["plant1/gw-1"]
        assert node["online"] and node["bdSeq"] == 0 and node["devices"] == {"press-1": True} and node["seq_gaps"] == 0

        # A lost message (seq jumps) is counted, and the node is asked to rebirth, which it does.
        edge.data(T0 + 9000, 190.0, 70.0, seq=(edge.seq + 3) % 256)
        assert wait_until(lambda: spb.REBIRTH in edge.commands, 10), connector.state.as_dict()
        assert wait_until(lambda: connector.state.as_dict()["sparkplug"]["nodes"]["plant1/gw-1"]["births"] == 2, 10)
        assert connector.state.as_dict()["sparkplug"]["seq_gaps"] == 1
        assert connector.state.detail["rebirth_requests"] == 1

        # The connection dies without a word: the broker delivers the will, the node and its device go down.
        edge.kill()
        assert wait_until(lambda: not connector.state.as_dict()["sparkplug"]["nodes"]["plant1/gw-1"]["online"], 20)
        state = connector.state.as_dict()
        assert state["sparkplug"]["nodes"]["plant1/gw-1"]["devices"] == {"press-1": False}
        assert state["up"]  # the broker is fine; the edge node is not
        rule = alert_config.ConnectorDown(name="down", kind="connector_down")
        findings = _connector_down(rule, type("Ctx", (), {"connectors": {"scada": state}})())
        assert [f.message for f in findings] == [
            "connector scada: Sparkplug edge node plant1/gw-1 is down: death certificate (NDEATH): the edge node lost "
            "its connection or shut down"]

        # It comes back with the next bdSeq; a stale death of the old session would change nothing.
        edge = EdgeNodeSim(mosquitto.port, bd_seq=1)
        edge.births(temp=65.0)
        assert wait_until(lambda: connector.state.as_dict()["parts_down"] == [], 10), connector.state.as_dict()
        edge.send("NDEATH", [("bdSeq", None, spb.INT64, 0)], seq=None)

        # Data by an alias no birth declared: counted as malformed, and a rebirth is asked for (rate-limited).
        # Messages of one connection arrive in order, so once this is counted the stale death was read too.
        edge.client.publish(spb.topic("plant1", "DDATA", "gw-1", "press-1"),
                            spb.encode([(None, 99, spb.DOUBLE, 1.0)], seq=edge.seq), qos=0).wait_for_publish(5)
        assert wait_until(lambda: connector.state.malformed == 1, 10), connector.state.as_dict()
        assert connector.state.as_dict()["sparkplug"]["nodes"]["plant1/gw-1"]["online"]  # old bdSeq: ignored
        # Hostile or odd payloads cost one message each; the connector keeps reading.
        for hostile in (b"[" * 100_000, b'{"online": "false"}', b"\xff" * 10):
            edge.client.publish("spBv1.0/STATE/scada-primary", hostile, qos=0)
        edge.client.publish("spBv1.0/STATE/scada-primary", b'{"online": true, "timestamp": 1}', qos=0)
        assert wait_until(lambda: connector.state.as_dict()["sparkplug"]["hosts"] == {"scada-primary": True}, 10)
        assert connector.state.malformed == 4 and connector.state.up
    finally:
        edge.client.loop_stop()
        edge.client.disconnect()
        connector.stop()
        writer.close()


def test_array_metrics_as_accelerometer_snapshots(mosquitto, store: Store, tmp_path: Path) -> None:
    """A vibration gateway on Sparkplug B sends each snapshot as a FloatArray metric (by alias
    after its birth): a field in accelerometer mode stores its vibration features, an array no
    field reads is skipped, and a snapshot too short to be one costs only itself."""
    import numpy as np

    assert spb.metric_array(spb.decode(spb.encode([("w", None, spb.INT16_ARRAY, [-2, 7])], seq=0)).metrics[0]
                            ).tolist() == [-2.0, 7.0]
    writer = ReadingWriter(store, tmp_path / "spool", flush_interval=0.05)
    connector = MqttConnector(Mqtt.model_validate({
        "kind": "mqtt", "name": "scada", "port": mosquitto.port, "payload": "sparkplug_b",
        "fields": [{"field": "Vibration/Bearing H", "sensor": "bearing_h", "mode": "accelerometer", "rate_hz": 25600,
                    "fault_hz": {"bpfo": 107.0}},
                   {"field": "Motor/Temp", "sensor": "motor_temp"}]}), writer)
    connector.start()
    assert wait_until(lambda: connector.state.up, 10), connector.state
    edge = EdgeNodeSim(mosquitto.port, bd_seq=0)
    t = np.arange(2560) / 25600.0
    ringing = (np.sin(2 * np.pi * 5000 * t) * (0.5 + 0.5 * np.cos(2 * np.pi * 107.0 * t))).astype(np.float32)
    try:
        edge.send("NBIRTH", [("bdSeq", None, spb.INT64, 0)])
        edge.send("DBIRTH", [("Vibration/Bearing H", 20, spb.FLOAT_ARRAY, [0.0] * 64),
                             ("Vibration/Raw Axial", 21, spb.FLOAT_ARRAY, [0.0] * 64),
                             ("Motor/Temp", 11, spb.DOUBLE, 60.0)], "pump-07")
        edge.send("DDATA", [(None, 20, spb.FLOAT_ARRAY, ringing), (None, 21, spb.FLOAT_ARRAY, ringing)], "pump-07",
                  timestamp=T0 + 1000)
        edge.send("DDATA", [(None, 20, spb.FLOAT_ARRAY, [1.0, 2.0])], "pump-07", timestamp=T0 + 2000)
        assert wait_until(lambda: connector.state.malformed == 1, 10), connector.state.as_dict()
        writer.flush()
        readings = {sensor: [v for _, v in values] for (_, sensor), values in _readings(store).items()}
        assert readings["motor_temp"] == [60.0]
        assert readings["bearing_h_rms"][-1] == pytest.approx(float(np.sqrt(np.mean(ringing.astype(float) ** 2))),
                                                              rel=1e-3)
        assert readings["bearing_h_band_3000_6000"][-1] > 10 * readings["bearing_h_band_10_1000"][-1]
        assert readings["bearing_h_env_bpfo"][-1] > 0.1
        assert {name for name in readings if not name.startswith("bearing_h_")} == {"motor_temp"}
    finally:
        edge.client.loop_stop()
        edge.client.disconnect()
        connector.stop()
        writer.close()


def test_arrays_without_a_field_are_not_readings_and_torn_ones_are_counted() -> None:
    """With no fields listed, every numeric metric is a sensor, but an array is not one value:
    it is skipped. An array whose bytes are not a whole number of values, or far too many, is
    counted as a bad metric and costs only itself."""
    connector = MqttConnector(Mqtt.model_validate({"kind": "mqtt", "name": "scada", "payload": "sparkplug_b"}),
                              writer=None)  # never started: readings() is pure
    birth = spb.encode([("bdSeq", None, spb.INT64, 0)], seq=0)
    assert connector.readings("spBv1.0/plant1/NBIRTH/gw-1", birth) == []
    data = spb.Payload(timestamp=T0, seq=1)
    spb.set_value(data.metrics.add(name="Vibration/Raw"), spb.FLOAT_ARRAY, [0.5] * 64)
    spb.set_value(data.metrics.add(name="Motor/Temp"), spb.DOUBLE, 61.0)
    torn = data.metrics.add(name="Vibration/Torn")
    spb.set_value(torn, spb.FLOAT_ARRAY, [0.5] * 64)
    torn.bytes_value = torn.bytes_value[:-1]
    huge = data.metrics.add(name="Vibration/Huge", datatype=spb.INT8_ARRAY)
    huge.bytes_value = bytes(spb.MAX_ARRAY + 1)
    readings = connector.readings("spBv1.0/plant1/DDATA/gw-1/pump-07", data.SerializeToString())
    assert [(r.asset, r.sensor, r.value) for r in readings] == [("pump-07", "Motor.Temp", 61.0)]
    assert connector.state.malformed == 1  # one message, two bad metrics in it


def test_a_waveform_must_be_numbers() -> None:
    from types import SimpleNamespace

    from factory_ai.connectors.waveform import MAX_SAMPLES, waveform_readings

    mapping = SimpleNamespace(sensor="bearing_h", rate_hz=25600.0, samples_unit="g", fault_hz={})
    now = datetime.now(UTC)
    assert waveform_readings("pump-07", mapping, now, [0.1, -0.2] * 64, "field 'acc'")
    for bad, why in (([True, False] * 64, "numbers"), (["0.5"] * 128, "numbers"), ([10**400] * 128, "numbers"),
                     ([1e308, float("inf")] * 64, "finite"), ([[0.1] * 64] * 2, "snapshot"),
                     ([0.0] * (MAX_SAMPLES + 1), "more than")):
        with pytest.raises(ValueError, match=why):
            waveform_readings("pump-07", mapping, now, bad, "field 'acc'")


def _scada(port: int, client_id: str, subscription: str):  # noqa: ANN202
    """A SCADA-side listener that decodes every Sparkplug B message it hears, in order."""
    heard: list[tuple[str, object]] = []
    listener = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id)
    listener.on_message = lambda c, u, m: heard.append((m.topic, spb.decode(m.payload)))
    listener.connect("127.0.0.1", port)
    listener.loop_start()
    listener.subscribe(subscription, qos=1)
    time.sleep(0.3)
    return listener, heard


def test_the_daemon_as_an_edge_node_publishes_verdicts_and_alerts(mosquitto, store: Store, tmp_path: Path) -> None:
    listener, heard = _scada(mosquitto.port, "scada", "spBv1.0/#")
    writer = ReadingWriter(store, tmp_path / "spool", flush_interval=0.05)
    config = Mqtt.model_validate({"kind": "mqtt", "name": "scada", "port": mosquitto.port, "payload": "sparkplug_b",
                                  "client_id": "factory-ai-edge", "group": "quality", "edge_node": "factory-ai"})
    connector = MqttConnector(config, writer)
    connector.start()
    try:
        assert wait_until(lambda: any(t.endswith("NBIRTH/factory-ai") for t, _ in heard), 10), heard
        connector.publish_verdict({"line": "line/1", "verdict": "reject", "label": "crack", "confidence": 0.93,
                                   "score": None, "model": "surface", "version": "v3", "source": "cam/1.png",
                                   "error": None})
        connector.publish_verdict({"line": "line/1", "verdict": "pass", "label": "good", "confidence": 0.99,
                                   "model": "surface", "version": "v3", "source": "cam/2.png", "error": None})
        for count in (1, 2):
            connector.publish_alert({"event": "raised", "rule": "rul-low", "severity": "critical",
                                     "message": "press-1 RUL", "asset": "press-1", "count": count})
        assert wait_until(lambda: len(heard) == 5, 10), [t for t, _ in heard]
        assert [t for t, _ in heard] == [
            "spBv1.0/quality/NBIRTH/factory-ai", "spBv1.0/quality/DBIRTH/factory-ai/line_1",
            "spBv1.0/quality/DDATA/factory-ai/line_1", "spBv1.0/quality/DBIRTH/factory-ai/alerts",
            "spBv1.0/quality/DDATA/factory-ai/alerts"]
        assert [p.seq for _, p in heard] == [0, 1, 2, 3, 4]
        assert {m.name: spb.metric_number(m) for m in heard[0][1].metrics}["bdSeq"] == 0
        birth = {m.name: m for m in heard[1][1].metrics}  # born with the first verdict's values
        assert birth["Verdict"].string_value == "reject" and birth["Score"].is_null
        data = {m.alias: m for m in heard[2][1].metrics}  # then by alias only
        assert all(not m.name for m in heard[2][1].metrics)
        assert data[birth["Verdict"].alias].string_value == "pass"
        assert data[birth["Confidence"].alias].double_value == pytest.approx(0.99)
        alert_birth = {m.name: m for m in heard[3][1].metrics}
        assert alert_birth["Severity"].string_value == "critical" and spb.metric_number(alert_birth["Count"]) == 1
        count = {m.alias: m for m in heard[4][1].metrics}[alert_birth["Count"].alias]
        assert not count.HasField("datatype") and spb.metric_number(count, spb.INT64) == 2
        assert "quality/factory-ai" not in connector.state.as_dict()["sparkplug"]["nodes"]  # our own echo
        assert connector.state.received == 0
        # A host asks for a rebirth: the node and both devices are born again, seq from 0.
        heard.clear()
        listener.publish("spBv1.0/quality/NCMD/factory-ai", spb.rebirth_request(), qos=0)
        assert wait_until(lambda: len([t for t, _ in heard if "BIRTH" in t]) == 3, 10), [t for t, _ in heard]
        births = [(t, p) for t, p in heard if "BIRTH" in t]
        assert births[0][0].endswith("NBIRTH/factory-ai") and births[0][1].seq == 0
    finally:
        heard.clear()
        connector.stop()
        writer.close()
    assert wait_until(lambda: any(t.endswith("NDEATH/factory-ai") for t, _ in heard), 10), [t for t, _ in heard]
    death = next(p for t, p in heard if t.endswith("NDEATH/factory-ai"))
    assert spb.metric_number(death.metrics[0]) == 0  # the bdSeq of the birth it ends
    listener.loop_stop()
    listener.disconnect()


def test_alerts_reach_a_sparkplug_scada_through_the_connector_channel(mosquitto, store: Store, tmp_path: Path) -> None:
    """An alert raised by a rule goes out through a ``connector`` channel as the daemon's own edge
    node's ``alerts`` device; without the running connector (outside the daemon) it waits."""
    from factory_ai import alerts
    from factory_ai.alerts.config import AlertSettings
    from factory_ai.store.tables import Delivery

    settings = AlertSettings.model_validate({
        "rules": [{"name": "plc-down", "kind": "connector_down", "severity": "critical"}],
        "channels": [{"name": "scada", "kind": "connector", "connector": "spb"}]})
    states = {"press-plc": {"kind": "opcua", "up": False, "last_error": "no answer from 10.0.3.20"}}
    listener, heard = _scada(mosquitto.port, "scada-alerts", "spBv1.0/quality/+/factory-ai/#")
    # Outside the daemon there is no running connector: the delivery stays in the outbox.
    counts = alerts.check(store, settings, connectors=states)
    assert counts["raised"] == 1 and counts["failed"] == 1, counts
    writer = ReadingWriter(store, tmp_path / "spool", flush_interval=0.05)
    connector = MqttConnector(Mqtt.model_validate({
        "kind": "mqtt", "name": "spb", "port": mosquitto.port, "payload": "sparkplug_b", "client_id": "fa-alerts",
        "group": "quality", "edge_node": "factory-ai"}), writer)
    connector.start()
    try:
        assert wait_until(lambda: connector.state.up, 10)
        with store.session() as session:  # due now, not after the back-off
            for delivery in session.exec(select(Delivery)).all():
                delivery.next_attempt_at = datetime.now(UTC)
                session.add(delivery)
        counts = alerts.check(store, settings, connectors=states, publishers={"spb": connector.publish_alert})
        assert counts["sent"] == 1, counts
        assert wait_until(lambda: any(t.endswith("DBIRTH/factory-ai/alerts") for t, _ in heard), 10), heard
        birth = {m.name: m for t, p in heard if t.endswith("DBIRTH/factory-ai/alerts") for m in p.metrics}
        assert birth["Rule"].string_value == "plc-down" and birth["Severity"].string_value == "critical"
        assert "press-plc" in birth["Message"].string_value and birth["Event"].string_value == "raised"
    finally:
        connector.stop()
        writer.close()
        listener.loop_stop()
        listener.disconnect()


def test_host_book_types_from_births_and_one_bad_metric_costs_only_itself() -> None:
    book = spb.HostBook()
    birth = spb.Payload(timestamp=T0, seq=0)
    birth.metrics.add(name="bdSeq", datatype=spb.INT64, long_value=3)
    birth.metrics.add(name="Wrong", alias=1, datatype=spb.INT32, string_value="not a number")
    birth.metrics.add(name="Level", alias=2, datatype=spb.INT16, int_value=2**32 - 7)
    birth.metrics.add(name="Late", alias=3, datatype=spb.DOUBLE, double_value=1.0, timestamp=2**63)
    got = book.read(spb.parse_topic("spBv1.0/g/NBIRTH/e"), birth.SerializeToString())
    assert got.points == [("Level", datetime.fromtimestamp(T0 / 1000, UTC), -7.0)] and got.bad_metrics == 1
    data = spb.Payload(timestamp=T0, seq=1)
    data.metrics.add(alias=2, int_value=2**32 - 9)  # no datatype: the birth's Int16 applies
    data.metrics.add(alias=3, double_value=2.5)
    got = book.read(spb.parse_topic("spBv1.0/g/NDATA/e"), data.SerializeToString())
    assert [(n, v) for n, _, v in got.points] == [("Level", -9.0), ("Late", 2.5)]
    assert not got.rebirth and book.state()["nodes"]["g/e"]["bdSeq"] == 3


def test_the_host_book_is_bounded_against_invented_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """New nodes, hosts and names past the bounds are refused and change nothing; a device's
    rebirth replaces what it declared, so births repeated for ever do not fill the book."""
    monkeypatch.setattr(spb.HostBook, "MAX_NODES", 2)
    monkeypatch.setattr(spb.HostBook, "MAX_NAMES", 12)
    monkeypatch.setattr(spb.HostBook, "MAX_HOSTS", 1)
    book = spb.HostBook()
    birth = spb.encode([("bdSeq", None, spb.INT64, 0), ("Level", 1, spb.DOUBLE, 1.0)], seq=0)
    for edge in ("a", "b"):
        assert book.read(spb.parse_topic(f"spBv1.0/g/NBIRTH/{edge}"), birth).points
    with pytest.raises(ValueError, match="2 edge nodes are held already"):
        book.read(spb.parse_topic("spBv1.0/g/NBIRTH/c"), birth)
    held = book.state()["names"]
    assert held == 6  # per node: the alias of Level, the types of bdSeq and Level
    for seq in range(1, 30):  # the same device reborn again and again
        pump = spb.encode([("Flow", 2, spb.DOUBLE, 3.0)], seq=seq % 256)
        assert book.read(spb.parse_topic("spBv1.0/g/DBIRTH/a/pump"), pump).points
    assert book.state()["names"] == held + 3  # its alias, its type and the device itself, once
    many = spb.encode([(f"M{i}", 10 + i, spb.DOUBLE, 0.0) for i in range(3)], seq=30)
    with pytest.raises(ValueError, match="12 names"):
        book.read(spb.parse_topic("spBv1.0/g/DBIRTH/a/fan"), many)
    assert "fan" not in book.state()["nodes"]["g/a"]["devices"] and book.state()["names"] == held + 3
    book.read(spb.parse_topic("spBv1.0/STATE/scada"), b'{"online": true}')
    with pytest.raises(ValueError, match="1 host applications"):
        book.read(spb.parse_topic("spBv1.0/STATE/intruder"), b'{"online": true}')
    # what is already known goes on as before, and /health says how much was refused
    data = spb.encode([(None, 1, spb.DOUBLE, 2.0)], seq=1)
    assert [v for _, _, v in book.read(spb.parse_topic("spBv1.0/g/NDATA/b"), data).points] == [2.0]
    state = book.state()
    assert sorted(state["nodes"]) == ["g/a", "g/b"] and state["hosts"] == {"scada": True}
    assert state["refused_book_full"] == 3


def test_an_array_sent_to_a_single_value_field_is_counted() -> None:
    connector = MqttConnector(Mqtt.model_validate({
        "kind": "mqtt", "name": "scada", "payload": "sparkplug_b",
        "fields": [{"field": "Motor/Temp", "sensor": "motor_temp"}, {"field": "Flow", "sensor": "flow"}]}), writer=None)
    connector.readings("spBv1.0/plant1/NBIRTH/gw-1", spb.encode([("bdSeq", None, spb.INT64, 0)], seq=0))
    data = spb.Payload(timestamp=T0, seq=1)
    spb.set_value(data.metrics.add(name="Motor/Temp"), spb.FLOAT_ARRAY, [61.0] * 8)
    spb.set_value(data.metrics.add(name="Flow"), spb.DOUBLE, 3.5)
    spb.set_value(data.metrics.add(name="Unasked"), spb.FLOAT_ARRAY, [1.0] * 8)
    readings = connector.readings("spBv1.0/plant1/DDATA/gw-1/pump-07", data.SerializeToString())
    assert [(r.sensor, r.value) for r in readings] == [("flow", 3.5)]
    assert connector.state.malformed == 1  # Motor/Temp; an array no field asks for is not counted
