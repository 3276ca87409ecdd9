"""The review queue and alert actions, over the daemon's real HTTP API and the CLI."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import httpx
import pytest
from sqlmodel import select
from typer.testing import CliRunner

from factory_ai.cli import app
from factory_ai.config import load_settings
from factory_ai.daemon.service import Daemon
from factory_ai.store import Alert, Inspection, Review, Store
from tests.conftest import ROOT
from tests.test_daemon import TOKEN, images, write_plant

pytestmark = pytest.mark.slow
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def daemon(tmp_path: Path, fleet: Path):
    settings = load_settings(write_plant(tmp_path, fleet, forecast=False), environ={})
    settings.daemon.keep_images = "all"
    settings.scheduler.enabled = False
    service = Daemon(settings, [])
    service.start()
    yield service
    service.stop()


def test_operator_flags_and_labels_an_image_and_acknowledges_an_alert(daemon: Daemon, sample_images: Path) -> None:
    host, port = daemon.api_address
    client = httpx.Client(base_url=f"http://{host}:{port}", timeout=10)
    chosen = images(sample_images, 3)
    for path in chosen:
        assert client.post("/api/v1/inspect", files={"image": (path.name, path.read_bytes(), "image/png")},
                           data={"line": "line1"}, headers=AUTH).status_code == 200
    assert daemon.results.flush(timeout=10)
    listed = client.get("/api/v1/inspections").json()
    first = listed[-1]
    # Every image was kept (keep_images = all), byte for byte, under its sha256.
    kept = Path(first["image_path"])
    assert kept.read_bytes() == chosen[0].read_bytes()
    assert kept.name.startswith(hashlib.sha256(chosen[0].read_bytes()).hexdigest())

    before = {item["id"] for item in client.get("/api/v1/review").json()}
    assert client.post(f"/api/v1/inspections/{first['id']}/flag").status_code == 401
    assert client.post(f"/api/v1/inspections/{first['id']}/flag", headers=AUTH).status_code == 200
    queue = client.get("/api/v1/review").json()
    assert {item["id"] for item in queue} == before | {first["id"]}
    assert next(item for item in queue if item["id"] == first["id"])["flagged"] is True

    refused = client.post(f"/api/v1/review/{first['id']}", json={"label": "dent"}, headers=AUTH)
    assert refused.status_code == 422 and "crack, good, scratch, spot" in refused.json()["detail"]
    assert client.post("/api/v1/review/999999", json={"label": "good"}, headers=AUTH).status_code == 404
    done = client.post(f"/api/v1/review/{first['id']}", json={"label": "pass", "reviewer": "maria"}, headers=AUTH)
    assert done.status_code == 200 and done.json()["label"] == "good"  # the model's one good class
    assert first["id"] not in {item["id"] for item in client.get("/api/v1/review").json()}
    with daemon.store.session() as session:
        review = session.exec(select(Review).where(Review.inspection_id == first["id"])).one()
        assert (review.label, review.reviewer, review.flagged) == ("good", "maria", True)

    daemon.store.add_all([Alert(key="k1", rule="rul", severity="critical", message="pump-3 RUL 12")])
    [alert] = client.get("/api/v1/alerts").json()
    assert alert["status"] == "open" and alert["severity"] == "critical"
    assert client.post(f"/api/v1/alerts/{alert['id']}/acknowledge").status_code == 401
    ack = client.post(f"/api/v1/alerts/{alert['id']}/acknowledge", json={"by": "maria"}, headers=AUTH)
    assert ack.status_code == 200 and ack.json() == {"id": alert["id"], "status": "acknowledged",
                                                     "acknowledged_by": "maria"}
    assert client.post(f"/api/v1/alerts/{alert['id']}/resolve", headers=AUTH).json()["status"] == "resolved"
    again = client.post(f"/api/v1/alerts/{alert['id']}/acknowledge", headers=AUTH)
    assert again.status_code == 422 and "already resolved" in again.json()["detail"]
    assert client.post("/api/v1/alerts/424242/resolve", headers=AUTH).status_code == 404
    with daemon.store.session() as session:
        assert session.get(Alert, alert["id"]).status == "resolved"


def test_review_cli(plant: Path) -> None:
    shutil.copytree(ROOT / "models" / "demo-surface", plant / "models" / "demo-surface")
    with Store(f"sqlite:///{plant / 'var' / 'factory.db'}") as store:
        store.add_all([Inspection(source="cam/a.png", verdict="review", label="spot", confidence=0.41,
                                  model_name="demo-surface", model_version="v1", image_path="var/images/a.png"),
                       Inspection(source="cam/b.png", verdict="pass", model_name="demo-surface", model_version="v1")])
    runner = CliRunner()
    listing = runner.invoke(app, ["review", "list"])
    assert listing.exit_code == 0 and "spot 41%" in listing.output and "b.png" not in listing.output
    assert runner.invoke(app, ["review", "flag", "2"]).exit_code == 0
    assert "b.png" in runner.invoke(app, ["review", "list"]).output
    wrong = runner.invoke(app, ["review", "label", "1", "dent"])
    assert wrong.exit_code != 0 and "not a class of demo-surface v1" in wrong.output
    assert runner.invoke(app, ["review", "label", "1", "scratch", "--by", "ana"]).exit_code == 0
    assert runner.invoke(app, ["review", "label", "2", "good"]).exit_code == 0
    assert "the review queue is empty" in runner.invoke(app, ["review", "list"]).output


def test_review_import_judges_keeps_and_labels_sorted_images(plant: Path) -> None:
    from factory_ai.samples.images import generate

    shutil.copytree(ROOT / "models" / "demo-surface", plant / "models" / "demo-surface")
    generate(plant / "sorted", per_class=3, size=96, seed=5)
    result = CliRunner().invoke(app, ["review", "import", str(plant / "sorted"), "--by", "qa"])
    assert result.exit_code == 0, result.output
    assert "imported and labelled 12 images with demo-surface v1: crack 3, good 3, scratch 3, spot 3" in result.output
    with Store(f"sqlite:///{plant / 'var' / 'factory.db'}") as store, store.session() as session:
        rows = session.exec(select(Inspection, Review).join(Review, Review.inspection_id == Inspection.id)).all()
    assert len(rows) == 12
    for inspection, review in rows:
        assert review.label == Path(inspection.source).parent.name and review.reviewer == "qa"
        assert inspection.line == "import" and inspection.verdict in {"pass", "reject", "review"}
        assert Path(inspection.image_path).read_bytes() == Path(inspection.source).read_bytes()


def test_events_over_the_api_and_the_cli(daemon: Daemon, plant: Path) -> None:
    host, port = daemon.api_address
    client = httpx.Client(base_url=f"http://{host}:{port}", timeout=10)
    body = {"asset": "pump-07", "kind": "failure", "ts": "2026-03-02T10:00:00Z", "note": "bearing seized"}
    assert client.post("/api/v1/events", json=body).status_code == 401
    made = client.post("/api/v1/events", json=body, headers=AUTH)
    assert made.status_code == 201 and made.json()["created"] is True
    assert client.post("/api/v1/events", json=body, headers=AUTH).json()["created"] is False  # a retried POST
    assert client.post("/api/v1/events", json={**body, "kind": "fire"}, headers=AUTH).status_code == 422
    future = client.post("/api/v1/events", json={**body, "ts": "2099-01-01T00:00:00Z"}, headers=AUTH)
    assert future.status_code == 422 and "in the future" in future.json()["detail"]
    [listed] = client.get("/api/v1/events", params={"asset": "pump-07"}).json()
    assert (listed["kind"], listed["note"]) == ("failure", "bearing seized")
    assert listed["ts"].startswith("2026-03-02T10:00:00")

    runner = CliRunner()  # the CLI in the same plant folder: the same factory.toml and store
    added = runner.invoke(app, ["events", "add", "press-2", "--kind", "maintenance", "--at", "2026-03-01T08:00"])
    assert added.exit_code == 0 and "recorded maintenance of press-2 at 2026-03-01T08:00:00+00:00" in added.output
    (plant / "events.csv").write_text("asset,time,kind\npress-2,2026-03-01T08:00:00Z,maintenance\n"
                                      "press-3,2026-03-04T12:30:00Z,failure\n")
    imported = runner.invoke(app, ["events", "import", str(plant / "events.csv")])
    assert imported.exit_code == 0 and "1 events added, 1 already recorded" in imported.output
    (plant / "bad.csv").write_text("asset,time,kind\npress-4,2026-03-05T00:00:00Z,failure\npress-4,yesterday,failure\n")
    bad = runner.invoke(app, ["events", "import", str(plant / "bad.csv")])
    assert bad.exit_code != 0 and "line 3" in bad.output and "not ISO 8601" in bad.output
    listing = runner.invoke(app, ["events", "list"]).output
    assert "press-3" in listing and "press-2" in listing and "press-4" not in listing  # all or nothing


def test_pass_and_reject_name_a_class_only_when_the_model_leaves_no_doubt(tmp_path: Path) -> None:
    from factory_ai import review
    from factory_ai.errors import DataError

    binary = lambda name, version: (["defect", "good"], ["good"])  # noqa: E731 - a good/defect model
    multi = lambda name, version: (["crack", "good", "scratch"], ["good"])  # noqa: E731
    with Store(f"sqlite:///{tmp_path / 'r.db'}") as store, store.session() as session:
        part = Inspection(source="cam/p.png", verdict="review", model_name="m", model_version="v1")
        session.add(part)
        session.flush()
        assert review.label(session, part.id, "reject", "qa", binary).label == "defect"
        assert review.label(session, part.id, "pass", "qa", binary).label == "good"
        assert review.label(session, part.id, "pass", "qa", multi).label == "good"
        with pytest.raises(DataError, match=r"use one of crack, good, scratch \(or pass\)$"):
            review.label(session, part.id, "reject", "qa", multi)  # which defect? the operator must say
