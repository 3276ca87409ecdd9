"""Alerts: the rules over a real store, dedup and resolve, and delivery to real servers."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import select

from factory_ai import alerts
from factory_ai.alerts import engine
from factory_ai.alerts.config import AlertSettings
from factory_ai.alerts.spc import p_chart, western_electric
from factory_ai.errors import DataError
from factory_ai.store import Alert, Asset, Delivery, Inspection, JobRun, Prediction, Reading, Sensor, Store, utcnow
from tests.servers import SmtpServer, Unavailable, WebhookServer, wait_until


def settings(rules=(), channels=None, **kw) -> AlertSettings:  # noqa: ANN001
    data = {"rules": list(rules), **kw}
    if channels is not None:
        data["channels"] = channels
    return AlertSettings.model_validate(data)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    with Store(f"sqlite:///{tmp_path / 'factory.db'}") as s:
        yield s


def add_predictions(store: Store, values: dict[str, tuple[float, float]]) -> dict[str, int]:
    ids = {}
    with store.session() as session:
        for name, (rul, risk) in values.items():
            asset = Asset(name=name, line="l1")
            session.add(asset)
            session.flush()
            ids[name] = asset.id
            session.add(Prediction(asset_id=asset.id, rul=rul + 100, risk=0.0, model_name="m", model_version="v1",
                                   ts=utcnow() - timedelta(hours=1)))
            session.add(Prediction(asset_id=asset.id, rul=rul, rul_low=rul - 5, rul_high=rul + 5, risk=risk,
                                   horizon=48, model_name="m", model_version="v1"))
    return ids


def active(store: Store) -> dict[str, Alert]:
    with store.session() as session:
        return {a.key: a for a in session.exec(select(Alert).where(Alert.status != "resolved")).all()}


# -- SPC ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rule, z", [
    (1, [0, 0.5, -0.2, 3.5]),
    (2, [0, 2.5, 0.1, 2.2]),
    (3, [1.5, 1.2, 0.2, 1.1, 1.4]),
    (4, [0.3, 0.1, 0.5, 0.2, 0.9, 0.4, 0.2, 0.6]),
])
def test_each_western_electric_rule_fires_on_its_pattern(rule: int, z: list[float]) -> None:
    found = western_electric(np.array(z), (rule,))
    assert [(v.rule, v.index, v.side) for v in found] == [(rule, len(z) - 1, 1)]
    # The same pattern below the centre is reported as such; one point short is not a violation.
    assert [v.side for v in western_electric(-np.array(z), (rule,))] == [-1]
    assert western_electric(np.array(z[:-1]), (rule,)) == []


def test_western_electric_false_alarms_are_rare_and_a_shift_is_caught() -> None:
    """On an in-control process the four rules together flag about 1 subgroup in 100 (the
    textbook run length is about 92); a shift of 1.5 sigma is flagged far more often."""
    rng = np.random.default_rng(0)
    n = 5000
    chart = p_chart(rng.binomial(200, 0.05, n), np.full(n, 200), center=0.05)
    assert np.allclose(chart.upper, 0.05 + 3 * np.sqrt(0.05 * 0.95 / 200))
    in_control = len({v.index for v in western_electric(chart.z)}) / n
    beyond_3 = len(western_electric(chart.z, (1,))) / n
    shifted = p_chart(rng.binomial(200, 0.05 + 1.5 * np.sqrt(0.05 * 0.95 / 200), n), np.full(n, 200), center=0.05)
    caught = len({v.index for v in western_electric(shifted.z)}) / n
    assert 0 < in_control < 0.03 and beyond_3 < 0.01
    assert caught > 0.3


# -- rules -------------------------------------------------------------------------------------------
def test_rul_and_risk_rules_read_each_assets_latest_forecast(store: Store) -> None:
    ids = add_predictions(store, {"pump-1": (10, 0.9), "pump-2": (80, 0.05)})
    s = settings([{"name": "rul", "kind": "rul_below", "threshold": 24, "severity": "critical"},
                  {"name": "risk", "kind": "risk_above", "threshold": 0.5}])
    counts = alerts.check(store, s)
    assert counts["raised"] == 2
    found = active(store)
    assert set(found) == {f"rul:asset:{ids['pump-1']}", f"risk:asset:{ids['pump-1']}"}
    rul = found[f"rul:asset:{ids['pump-1']}"]
    assert rul.severity == "critical" and rul.line == "l1" and "pump-1" in rul.message and "10" in rul.message


def test_health_below_needs_persistence_names_the_sensors_and_resolves(store: Store) -> None:
    from factory_ai.store.tables import HealthScore

    with store.session() as session:
        ids = {}
        for name in ("pump-1", "pump-2"):
            asset = Asset(name=name, line="l1")
            session.add(asset)
            session.flush()
            ids[name] = asset.id
    top = [{"sensor": "vibration", "share": 0.7}, {"sensor": "temperature", "share": 0.2}]

    def score(name: str, health: float) -> None:
        store.add_all([HealthScore(asset_id=ids[name], model_name="pumps-health", model_version="v1", score=2.0,
                                   health=health, alarm=health < 50, top_sensors=top)])

    for health in (90, 30, 20, 10):  # pump-1: three low scores in a row
        score("pump-1", health)
    for health in (30, 90, 20):  # pump-2: one good score in the last three
        score("pump-2", health)
    s = settings([{"name": "health", "kind": "health_below", "threshold": 50, "consecutive": 3}])
    alerts.check(store, s)
    found = active(store)
    assert list(found) == [f"health:asset:{ids['pump-1']}"]
    message = found[f"health:asset:{ids['pump-1']}"].message
    assert "pump-1: health 10" in message and "inspect: vibration 70%, temperature 20%" in message
    alerts.check(store, s)  # the same condition: one alert, counted again
    assert len(active(store)) == 1 and active(store)[f"health:asset:{ids['pump-1']}"].count == 2
    score("pump-1", 95)  # back to normal: resolved
    alerts.check(store, s)
    assert active(store) == {}


def add_inspections(store: Store, verdicts: list[str], *, line: str = "l1", minutes_ago: float = 1) -> None:
    ts = utcnow() - timedelta(minutes=minutes_ago)
    store.add_all(Inspection(ts=ts, source="cam", line=line, verdict=v) for v in verdicts)


def test_defect_rate_counts_per_line_and_needs_enough_parts(store: Store) -> None:
    add_inspections(store, ["pass"] * 14 + ["reject"] * 6, line="l1")       # 30 %
    add_inspections(store, ["pass"] * 19 + ["reject"], line="l2")           # 5 %
    add_inspections(store, ["reject"] * 5, line="l3")                       # too few
    add_inspections(store, ["reject"] * 30, line="l1", minutes_ago=120)     # outside the window
    add_inspections(store, ["error"] * 30, line="l2")                       # not judged: not counted
    s = settings([{"name": "yield", "kind": "defect_rate", "percent": 10, "window_minutes": 60}])
    alerts.check(store, s)
    found = active(store)
    assert list(found) == ["yield:line:l1"]
    assert "30.0 % of 20 parts" in found["yield:line:l1"].message


def test_spc_rule_flags_a_shift_and_not_a_stable_line(store: Store) -> None:
    rng = np.random.default_rng(1)
    now = utcnow()
    rows = []
    for hour in range(32):  # 24 baseline subgroups at 4 %, then 8 at 12 %
        rate = 0.04 if hour < 24 else 0.12
        ts = now - timedelta(hours=32 - hour) + timedelta(minutes=30)
        for line, p in (("shifted", rate), ("stable", 0.04)):
            bad = rng.binomial(100, p)
            rows += [Inspection(ts=ts, source="cam", line=line, verdict="reject" if i < bad else "pass")
                     for i in range(100)]
    store.add_all(rows)
    s = settings([{"name": "spc", "kind": "spc_p_chart", "subgroup_minutes": 60, "baseline_subgroups": 24,
                   "checked_subgroups": 8}])
    alerts.check(store, s)
    keys = set(active(store))
    assert {"spc:line:shifted:we1", "spc:line:shifted:we4"} <= keys
    assert not any(":stable:" in k for k in keys)


def test_sensor_range_and_stale(store: Store) -> None:
    now = utcnow()
    with store.session() as session:
        asset = Asset(name="press")
        session.add(asset)
        session.flush()
        hot = Sensor(asset_id=asset.id, name="temp", unit="C", high_limit=80)
        quiet = Sensor(asset_id=asset.id, name="vib", created_at=now - timedelta(hours=3))
        session.add_all([hot, quiet])
        session.flush()
        session.add_all([Reading(sensor_id=hot.id, ts=now - timedelta(minutes=2), value=70),
                         Reading(sensor_id=hot.id, ts=now - timedelta(minutes=1), value=91.5),
                         Reading(sensor_id=quiet.id, ts=now - timedelta(hours=2), value=1.0)])
    s = settings([{"name": "range", "kind": "sensor_range"},
                  {"name": "stale", "kind": "sensor_stale", "max_age_minutes": 30}])
    alerts.check(store, s)
    found = active(store)
    assert set(found) == {f"range:sensor:{hot.id}", f"stale:sensor:{quiet.id}"}
    assert "press/temp = 91.5 C" in found[f"range:sensor:{hot.id}"].message
    assert "120 min" in found[f"stale:sensor:{quiet.id}"].message


def test_connector_and_job_rules(store: Store) -> None:
    store.add_all([JobRun(job="drift", status="ok"), JobRun(job="retrain-vision", status="failed",
                                                            error="no labelled images\nmore"),
                   JobRun(job="retrain-vision", status="running")])
    s = settings([{"name": "conn", "kind": "connector_down"}, {"name": "jobs", "kind": "job_failed"}])
    states = {"plc": {"kind": "opcua", "up": False, "last_error": "connection refused", "detail": {}},
              "replay": {"kind": "csv-replay", "up": False, "detail": {"finished": True}},
              "cam": {"kind": "image-folder", "up": True, "detail": {}}}
    alerts.check(store, s, connectors=states)
    found = active(store)
    assert set(found) == {"conn:connector:plc", "jobs:job:retrain-vision"}
    assert found["jobs:job:retrain-vision"].message.endswith("no labelled images")
    # Outside the daemon nobody knows the connectors: the alert is neither raised nor resolved.
    alerts.check(store, s, connectors=None)
    assert "conn:connector:plc" in active(store)


# -- the engine --------------------------------------------------------------------------------------
def test_dedup_cooldown_acknowledge_and_auto_resolve(store: Store) -> None:
    ids = add_predictions(store, {"pump-1": (10, 0.9)})
    s = settings([{"name": "rul", "kind": "rul_below", "threshold": 24}], cooldown_minutes=30)
    t0 = utcnow()
    alerts.check(store, s, now=t0)
    alerts.check(store, s, now=t0 + timedelta(minutes=10))           # within the cooldown: counted only
    alerts.check(store, s, now=t0 + timedelta(minutes=40))           # repeated to the channels
    [alert] = active(store).values()
    assert alert.count == 3
    with store.session() as session:
        events = [d.event for d in session.exec(select(Delivery).order_by(Delivery.id)).all()]
    assert events == ["raised", "repeated"]

    with store.session() as session:
        engine.acknowledge(session, alert.id, "maria", utcnow())
    alerts.check(store, s, now=t0 + timedelta(minutes=90))           # acknowledged: no more repeats
    with store.session() as session:
        assert session.exec(select(Delivery)).all()[-1].event == "repeated"
        assert session.get(Alert, alert.id).status == "acknowledged"

    # The pump is repaired: the next forecast is fine and the alert resolves by itself.
    store.add_all([Prediction(asset_id=ids["pump-1"], rul=120, risk=0.01)])
    counts = alerts.check(store, s, now=t0 + timedelta(minutes=100))
    assert counts["resolved"] == 1 and active(store) == {}
    # If it comes back, that is a new alert with its own count.
    store.add_all([Prediction(asset_id=ids["pump-1"], rul=5, risk=0.9)])
    alerts.check(store, s, now=t0 + timedelta(minutes=110))
    [again] = active(store).values()
    assert again.id != alert.id and again.count == 1
    with store.session() as session, pytest.raises(DataError):
        engine.acknowledge(session, alert.id, "maria", utcnow())


# -- channels ----------------------------------------------------------------------------------------
@pytest.fixture
def webhook():
    server = WebhookServer()
    yield server
    server.close()


def test_webhook_is_signed_and_the_outbox_keeps_it_while_the_receiver_is_down(store: Store, webhook) -> None:  # noqa: ANN001
    add_predictions(store, {"pump-1": (10, 0.9), "pump-2": (12, 0.9)})
    s = settings([{"name": "rul", "kind": "rul_below", "threshold": 24}],
                 channels=[{"name": "cmms", "kind": "webhook", "url": webhook.url, "secret": "s3cret"}])
    webhook.status = 500
    t0 = utcnow()
    counts = alerts.check(store, s, now=t0)
    assert counts["raised"] == 2 and counts["sent"] == 0 and counts["waiting"] == 2
    assert counts["failed"] == 1  # the second is not tried once the channel failed in this pass
    with store.session() as session:
        first = session.exec(select(Delivery).order_by(Delivery.id)).first()
        assert first.attempts == 1 and "500" in first.last_error
        assert first.next_attempt_at > t0
    assert alerts.flush(store, s, now=t0)["sent"] == 0   # not due yet: backoff
    webhook.status = 200
    assert alerts.flush(store, s, now=t0 + timedelta(minutes=1))["sent"] == 2
    assert len(webhook.received) == 2
    headers, body = webhook.received[0]
    expected = hmac.new(b"s3cret", headers["x-factory-ai-timestamp"].encode() + b"." + body, hashlib.sha256)
    assert headers["x-factory-ai-signature"] == "sha256=" + expected.hexdigest()
    payloads = [json.loads(b) for _, b in webhook.received]
    assert [p["asset"] for p in payloads] == ["pump-1", "pump-2"]  # in the order they were raised
    assert payloads[0]["event"] == "raised" and payloads[0]["severity"] == "warning"
    assert alerts.flush(store, s, now=t0 + timedelta(minutes=2))["sent"] == 0  # nothing twice


def test_email_with_starttls_and_login(store: Store) -> None:
    try:
        smtp = SmtpServer(users={"alerts": "pw"})
    except Unavailable as exc:
        pytest.skip(str(exc))
    try:
        add_predictions(store, {"pump-1": (10, 0.9)})
        channel = {"name": "mail", "kind": "email", "host": "127.0.0.1", "port": smtp.port, "security": "starttls",
                   "username": "alerts", "password": "pw", "from": "factory-ai@plant.example",
                   "to": ["maintenance@plant.example"], "ca_file": str(smtp.folder / "ca.pem")}
        s = settings([{"name": "rul", "kind": "rul_below", "threshold": 24, "severity": "critical"}],
                     channels=[channel])
        assert alerts.check(store, s)["sent"] == 1
        [message] = smtp.messages
        assert message["Subject"].startswith("[factory-ai critical] pump-1: remaining useful life 10")
        assert message["To"] == "maintenance@plant.example"
        # A wrong password is refused by the server, and the mail waits in the outbox.
        bad = settings(s.rules, channels=[{**channel, "password": "wrong"}])
        with store.session() as session:
            session.add(Prediction(asset_id=session.exec(select(Asset.id)).one(), rul=5, risk=0.9))
        alerts.check(store, bad, now=utcnow() + timedelta(hours=2))
        with store.session() as session:
            last = session.exec(select(Delivery).order_by(Delivery.id.desc())).first()
        assert last.status == "pending" and "535" in last.last_error
    finally:
        smtp.close()


def test_mqtt_channel_publishes_to_a_real_broker(store: Store, mosquitto) -> None:  # noqa: ANN001
    import paho.mqtt.client as mqtt

    received: list[tuple[str, dict]] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_message = lambda c, u, m: received.append((m.topic, json.loads(m.payload)))
    client.connect("127.0.0.1", mosquitto.port)
    client.subscribe("plant/alerts/#", qos=1)
    client.loop_start()
    try:
        add_predictions(store, {"pump-1": (10, 0.9)})
        s = settings([{"name": "risk", "kind": "risk_above", "threshold": 0.5, "severity": "critical"}],
                     channels=[{"name": "bus", "kind": "mqtt", "host": "127.0.0.1", "port": mosquitto.port,
                                "topic": "plant/alerts/{severity}/{rule}"}])
        assert alerts.check(store, s)["sent"] == 1
        assert wait_until(lambda: received, timeout=10)
        topic, payload = received[0]
        assert topic == "plant/alerts/critical/risk" and payload["asset"] == "pump-1"
    finally:
        client.loop_stop()
        client.disconnect()


def test_config_refuses_bad_rules() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="rule names must be unique"):
        settings([{"name": "a", "kind": "rul_below", "threshold": 1}, {"name": "a", "kind": "risk_above",
                                                                        "threshold": 0.5}])
    with pytest.raises(ValidationError, match="threshhold"):
        settings([{"name": "a", "kind": "rul_below", "threshhold": 1}])
    with pytest.raises(ValidationError):
        settings([{"name": "a", "kind": "rul_under", "threshold": 1}])
