"""The daemon in one process: API over real HTTP, live inspection, scoring, hot reload."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import httpx
import pytest

from factory_ai.config import load_settings
from factory_ai.connectors.config import load_file
from factory_ai.daemon import memory
from factory_ai.daemon.service import Daemon
from tests.conftest import ROOT
from tests.servers import wait_until

pytestmark = pytest.mark.slow

TOKEN = "line-1-token"




def write_plant(folder: Path, fleet: Path, *, speed: float = 20000, forecast: bool = True,
                catch_up_hours: float | None = None) -> Path:
    """A plant folder: factory.toml, a registry with the demo models, connector files. With
    ``catch_up_hours`` the replay's readings are stamped in the past (see csv-replay)."""
    models = folder / "models"
    for name in ("demo-surface", "demo-fleet"):
        shutil.copytree(ROOT / "models" / name, models / name, ignore=shutil.ignore_patterns("*.png", "*.pt"))
    connectors = folder / "connectors"
    connectors.mkdir()
    (connectors / "camera.toml").write_text(
        'kind = "image-folder"\npath = "../camera"\nsettle_seconds = 0.2\nline = "line1"\n')
    (connectors / "fleet.toml").write_text(
        f'kind = "csv-replay"\npath = "{fleet / "readings.csv"}"\ntime_column = "timestamp"\nspeed = {speed}\n'
        + (f"catch_up_hours = {catch_up_hours}\n" if catch_up_hours else ""))
    (folder / "factory.toml").write_text(
        '[store]\nurl = "sqlite:///var/factory.db"\n'
        '[runtime]\nthreads = 1\n'
        '[daemon]\nreload_check_seconds = 0.2\nforecast_interval_seconds = 1.0\n'
        + ('forecast_model = "demo-fleet"\n' if forecast else "")
        + f'[api]\nport = 0\ntoken = "{TOKEN}"\n')
    return folder / "factory.toml"


def images(sample_images: Path, n: int) -> list[Path]:
    files = sorted(sample_images.rglob("*.png"))
    return [files[i * len(files) // n] for i in range(n)]


@pytest.fixture
def daemon(tmp_path: Path, fleet: Path):
    config = write_plant(tmp_path, fleet)
    settings = load_settings(config, environ={})
    configs = [load_file(p) for p in sorted((tmp_path / "connectors").glob("*.toml"))]
    daemon = Daemon(settings, configs)
    daemon.start()
    yield daemon
    daemon.stop()


def _url(daemon: Daemon, path: str) -> str:
    host, port = daemon.api_address
    return f"http://{host}:{port}{path}"


def test_api_inspection_scoring_and_metrics(daemon: Daemon, sample_images: Path, tmp_path: Path) -> None:
    camera = tmp_path / "camera"
    chosen = images(sample_images, 8)
    for i, path in enumerate(chosen):
        shutil.copyfile(path, camera / f"{i:02d}-{path.parent.name}.png")
    (camera / "torn.png").write_bytes(chosen[0].read_bytes()[:-40] + b"IEND\xaeB`\x82")  # damaged, looks whole
    client = httpx.Client(timeout=10)
    assert wait_until(lambda: daemon.inspector.judged == 9)

    def moved(folder: str) -> list[str]:  # the connector moves a file just after it is counted
        return sorted(p.name for p in (camera / folder).iterdir()) if (camera / folder).is_dir() else []

    assert wait_until(lambda: moved("failed") == ["torn.png"] and len(moved("processed")) == 8), (
        moved("failed"), len(moved("processed")))

    # Upload: the token is required, the verdict comes back as JSON.
    data = chosen[1].read_bytes()
    files = {"image": ("part.png", data, "image/png")}
    assert client.post(_url(daemon, "/api/v1/inspect"), files=files).status_code == 401
    assert client.post(_url(daemon, "/api/v1/inspect"), files=files,
                       headers={"Authorization": "Bearer wrong"}).status_code == 401
    answer = client.post(_url(daemon, "/api/v1/inspect"), files=files, data={"line": "line2"},
                         headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.text
    verdict = answer.json()
    assert verdict["verdict"] in ("pass", "reject", "review") and verdict["model"] == "demo-surface"
    assert verdict["line"] == "line2" and 0 < verdict["confidence"] <= 1
    bad = client.post(_url(daemon, "/api/v1/inspect"), files={"image": ("x.png", b"not an image", "image/png")},
                      headers={"Authorization": f"Bearer {TOKEN}"})
    assert bad.status_code == 422 and bad.json()["verdict"] == "error" and bad.json()["error"]

    # Results are stored and listed.
    daemon.results.flush()
    listed = client.get(_url(daemon, "/api/v1/inspections?limit=50")).json()
    assert len(listed) == 11
    assert {i["line"] for i in listed} == {"line1", "line2", None}
    assert len(client.get(_url(daemon, "/api/v1/inspections?verdict=error")).json()) == 2

    # Forecasts: the replay fills the store, the scorer forecasts every pump on its interval.
    assert wait_until(lambda: daemon.scorer.runs >= 2, 30)
    daemon.results.flush()
    predictions = client.get(_url(daemon, "/api/v1/predictions?limit=500")).json()
    assert predictions and {p["model"] for p in predictions} == {"demo-fleet v1"}
    assert any(p["rul"] is not None for p in predictions)
    assets = client.get(_url(daemon, "/api/v1/assets")).json()
    assert {a["name"] for a in assets} >= {p["asset"] for p in predictions}
    assert any(a["forecast"] is not None for a in assets)
    assert {s["name"] for s in assets[0]["sensors"]} >= {"vibration", "temperature"}

    health = client.get(_url(daemon, "/health"))
    assert health.status_code == 200, health.text
    report = health.json()
    assert report["status"] == "ok" and report["database"]["up"]
    assert set(report["connectors"]) == {"camera", "fleet"}
    assert report["connectors"]["camera"]["received"] == 9 and report["connectors"]["camera"]["malformed"] == 1
    assert report["models"]["vision"]["version"] == "v1"

    metrics = client.get(_url(daemon, "/metrics")).text
    assert 'factory_ai_inspections_total{verdict="error"} 2.0' in metrics
    assert 'factory_ai_connector_up{connector="camera",kind="image-folder"} 1.0' in metrics
    assert "factory_ai_inference_seconds_bucket" in metrics and "factory_ai_readings_per_second" in metrics
    assert 'factory_ai_inspection_seconds_count{source="http"} 2.0' in metrics
    if memory._LIBC is not None and hasattr(memory._LIBC, "mallinfo2"):  # the heap, for a soak to read
        assert 'factory_ai_memory_bytes{kind="malloc_in_use"}' in metrics
        assert 'factory_ai_memory_bytes{kind="malloc_free"}' in metrics
    assert client.get(_url(daemon, "/openapi.json")).json()["info"]["title"] == "factory-ai"


def test_hot_reload_under_load_fails_no_request(daemon: Daemon, sample_images: Path, tmp_path: Path) -> None:
    """Promote a new version while clients keep posting images: every request succeeds, and the
    daemon moves to the new version without a restart."""
    data = images(sample_images, 1)[0].read_bytes()
    answers: list[tuple[int, str]] = []
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                r = client.post(_url(daemon, "/api/v1/inspect"), files={"image": ("p.png", data, "image/png")},
                                headers={"Authorization": f"Bearer {TOKEN}"})
                answers.append((r.status_code, r.json().get("version", "?")))

    workers = [threading.Thread(target=hammer) for _ in range(3)]
    for worker in workers:
        worker.start()
    time.sleep(1.0)
    registry = tmp_path / "models" / "demo-surface"
    shutil.copytree(registry / "v1", registry / "v2")
    card = (registry / "v2" / "card.json").read_text().replace('"version": "v1"', '"version": "v2"')
    (registry / "v2" / "card.json").write_text(card)
    (registry / "CURRENT").write_text("v2\n")
    assert wait_until(lambda: daemon.vision.describe()["version"] == "v2", 10)
    time.sleep(1.0)
    stop.set()
    for worker in workers:
        worker.join(10)
    assert len(answers) > 20
    assert all(code == 200 for code, _ in answers), [a for a in answers if a[0] != 200][:5]
    versions = [v for _, v in answers]
    assert versions[0] == "v1" and versions[-1] == "v2"
    assert daemon.vision.reloads == 1

    # A broken version is refused; the daemon keeps serving the last good one.
    shutil.copytree(registry / "v2", registry / "v3")
    (registry / "v3" / "model.onnx").write_bytes(b"corrupted")
    (registry / "CURRENT").write_text("v3\n")
    assert wait_until(lambda: daemon.vision.describe()["error"] is not None, 10)
    assert daemon.vision.describe()["version"] == "v2"
    r = httpx.post(_url(daemon, "/api/v1/inspect"), files={"image": ("p.png", data, "image/png")},
                   headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert r.status_code == 200 and r.json()["version"] == "v2"


def test_writes_refused_without_a_configured_token(tmp_path: Path, fleet: Path, sample_images: Path) -> None:
    config = write_plant(tmp_path, fleet, forecast=False)
    config.write_text(config.read_text().replace(f'token = "{TOKEN}"\n', ""))
    daemon = Daemon(load_settings(config, environ={}), [])
    daemon.start()
    try:
        r = httpx.post(_url(daemon, "/api/v1/inspect"),
                       files={"image": ("p.png", images(sample_images, 1)[0].read_bytes(), "image/png")})
        assert r.status_code == 403 and "token" in r.json()["detail"]
        assert daemon.api_address[0] == "127.0.0.1"
    finally:
        daemon.stop()



def test_camera_verdicts_reach_the_reject_gate_over_mqtt(tmp_path: Path, fleet: Path, sample_images: Path,
                                                         mosquitto) -> None:  # noqa: ANN001
    """End to end through the daemon: an image lands in the camera folder, its verdict is
    published on the line's MQTT topic, and MQTT telemetry lands in the store."""
    import json

    import paho.mqtt.client as paho

    config = write_plant(tmp_path, fleet, forecast=False)
    (tmp_path / "connectors" / "fleet.toml").unlink()
    (tmp_path / "connectors" / "broker.toml").write_text(
        f'kind = "mqtt"\nport = {mosquitto.port}\ntopics = ["plant/+/+/telemetry"]\ntimestamp_field = "ts"\n'
        'verdict_topic = "plant/{line}/verdicts"\n[[fields]]\nfield = "vib"\nsensor = "vibration"\n')
    heard: list[dict] = []
    listener = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="reject-gate")
    listener.on_message = lambda c, u, m: heard.append(json.loads(m.payload))
    listener.connect("127.0.0.1", mosquitto.port)
    listener.subscribe("plant/line1/verdicts", qos=1)
    listener.loop_start()
    settings = load_settings(config, environ={})
    daemon = Daemon(settings, [load_file(p) for p in sorted((tmp_path / "connectors").glob("*.toml"))])
    daemon.start()
    try:
        assert wait_until(lambda: all(c.state.up for c in daemon.connectors))
        for i, path in enumerate(images(sample_images, 4)):
            shutil.copyfile(path, tmp_path / "camera" / f"part-{i}.png")
        listener.publish("plant/line1/pump-03/telemetry", json.dumps({"ts": "2026-03-01T00:00:00Z", "vib": 2.2}),
                         qos=1)
        assert wait_until(lambda: len(heard) == 4), heard
        assert {h["source"].rsplit("/", 1)[-1] for h in heard} == {f"part-{i}.png" for i in range(4)}
        assert all(h["line"] == "line1" and h["verdict"] in ("pass", "reject", "review") for h in heard)
        assert wait_until(lambda: daemon.writer.stats.written == 1)
    finally:
        daemon.stop()
        listener.loop_stop()
        listener.disconnect()
