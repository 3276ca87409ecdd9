"""Many lines, one plant: two line daemons write to one real PostgreSQL at the same time.

Each daemon carries its line id (``[daemon] line``), replays its own pumps and judges its own
camera's parts; both also meet the plant's shared compressor, so they race to create the same
asset and sensors. Nothing may collide: every reading is stored once, no batch fails over to
the spool, each asset and inspection carries the right line, and a report sees both lines.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func
from sqlmodel import select
from typer.testing import CliRunner

from factory_ai.config import load_settings
from factory_ai.connectors.config import load_file
from factory_ai.daemon.service import Daemon
from factory_ai.ingest import ReadingWriter, SensorReading
from factory_ai.store import Alert, Asset, Inspection, Store, utcnow
from factory_ai.store.tables import Reading, Sensor
from tests.conftest import ROOT
from tests.servers import wait_until
from tests.test_daemon import images

pytestmark = pytest.mark.slow


def _line(folder: Path, line: str, fleet: pd.DataFrame, url: str, *, scheduler: bool = False) -> Daemon:
    """A line's daemon: its own pumps (renamed for the line) plus the shared compressor."""
    folder.mkdir()
    (folder / "camera").mkdir()
    shutil.copytree(ROOT / "models" / "demo-surface", folder / "models" / "demo-surface",
                    ignore=shutil.ignore_patterns("*.png", "*.pt"))
    own = fleet.assign(asset=line + "-" + fleet["asset"])
    shared = fleet[fleet["asset"] == fleet["asset"].iloc[0]].assign(asset="compressor")
    pd.concat([own, shared]).to_csv(folder / "readings.csv", index=False)
    (folder / "connectors").mkdir()
    (folder / "connectors" / "camera.toml").write_text('kind = "image-folder"\npath = "../camera"\n'
                                                      "settle_seconds = 0.2\n")
    (folder / "connectors" / "pumps.toml").write_text(
        f'kind = "csv-replay"\npath = "{folder / "readings.csv"}"\ntime_column = "timestamp"\nspeed = 1e9\n'
        "restamp = false\n")
    (folder / "factory.toml").write_text(f'[store]\nurl = "{url}"\n[runtime]\nthreads = 1\n'
                                         f'[daemon]\nline = "{line}"\n[api]\nport = 0\n[scheduler]\nenabled = {str(scheduler).lower()}\n')
    settings = load_settings(folder / "factory.toml", environ={})
    return Daemon(settings, [load_file(p) for p in sorted((folder / "connectors").glob("*.toml"))])


def test_two_line_daemons_share_one_postgres(tmp_path: Path, fleet: Path, sample_images: Path,
                                             postgres_url: str) -> None:
    source = pd.read_csv(fleet / "readings.csv")
    source = source[source["asset"].isin(sorted(source["asset"].unique())[:3])]
    sensors = [c for c in source.columns if c not in ("asset", "timestamp")]
    daemons = [_line(tmp_path / line, line, source, postgres_url) for line in ("line1", "line2")]
    starters = [threading.Thread(target=d.start) for d in daemons]
    for t in starters:  # both at once: they race to create the schema rows for the compressor
        t.start()
    for t in starters:
        t.join(60)
    try:
        for line in ("line1", "line2"):
            for i, path in enumerate(images(sample_images, 3)):
                shutil.copyfile(path, tmp_path / line / "camera" / f"{i}.png")
        per_line = len(source) * len(sensors)
        compressor = len(source[source["asset"] == source["asset"].iloc[0]]) * len(sensors)
        with Store(postgres_url) as store:
            def stored() -> int:
                with store.session() as session:
                    return int(session.exec(select(func.count()).select_from(Reading)).one())

            # Each line's readings once. An asset is known by line and name, so the compressor
            # both daemons read is each line's own compressor, with its readings stored under each.
            assert wait_until(lambda: stored() == 2 * per_line + 2 * compressor, 60), stored()
            assert wait_until(lambda: all(d.inspector.judged == 3 for d in daemons), 30)
            for d in daemons:
                d.results.flush()
                assert d.writer.stats.spooled_rows == 0 and d.writer.stats.db_up  # no batch fell over
            with store.session() as session:
                assets = sorted(tuple(r) for r in session.exec(select(Asset.name, Asset.line)).all())
                assert assets == sorted([(f"{line}-{a}", line) for line in ("line1", "line2")
                                         for a in source["asset"].unique()]
                                        + [("compressor", "line1"), ("compressor", "line2")])
                assert session.exec(select(func.count()).select_from(Sensor)).one() == 8 * len(sensors)
                by_line = dict(session.exec(select(Inspection.line, func.count()).group_by(Inspection.line)).all())
                assert by_line == {"line1": 3, "line2": 3}
    finally:
        for d in daemons:
            d.stop()

    # Alerts are raised per line on the shared store (every part here is judged, few pass).
    from factory_ai.alerts.config import AlertSettings
    from factory_ai.registry import Registry
    from factory_ai.scheduler.jobs import JobContext
    from factory_ai.scheduler.service import Scheduler

    settings = load_settings(environ={"FACTORY_AI_STORE__URL": postgres_url})
    settings.alerts = AlertSettings.model_validate({"rules": [
        {"name": "yield", "kind": "defect_rate", "percent": 1, "min_inspections": 3, "window_minutes": 600}]})
    with Store(postgres_url) as store:
        run = Scheduler(JobContext(settings=settings, store=store, registry=Registry(tmp_path / "none"))).run("alerts")
        assert run.status == "ok", run.error
        with store.session() as session:
            raised = {a.line: a.key for a in session.exec(select(Alert)).all()}
    with Store(postgres_url) as store, store.session() as session:
        rejects = dict(session.exec(select(Inspection.line, func.count()).where(Inspection.verdict != "pass")
                                    .group_by(Inspection.line)).all())
    assert set(raised) == {"line1", "line2"} == {line for line, n in rejects.items() if n}  # one alert per line
    assert all(key == f"yield:line:{line}" for line, key in raised.items())

    # Reports work across the plant, or for one line.
    from factory_ai.cli import app

    runner = CliRunner()
    env = {"FACTORY_AI_STORE__URL": postgres_url}
    both = runner.invoke(app, ["report", "--since", "3650d", "-f", "md", "-o", str(tmp_path / "plant.md")], env=env)
    assert both.exit_code == 0, both.output
    text = (tmp_path / "plant.md").read_text()
    assert "| inspections | 6 |" in text and "| line1 | 3 |" in text and "| line2 | 3 |" in text
    one = runner.invoke(app, ["report", "--since", "3650d", "--lines", "line2", "-f", "md", "-o",
                              str(tmp_path / "line2.md")], env=env)
    assert one.exit_code == 0, one.output
    text = (tmp_path / "line2.md").read_text()
    assert "line1-" not in text and "line2-" in text and "| inspections | 3 |" in text


def test_writers_racing_for_the_same_new_asset_agree(postgres_url: str, tmp_path: Path) -> None:
    """Eight writers of one line (a line's daemons restarted over each other, say) meet the same
    new asset and sensors in the same instant: one row each, every writer gets the same ids,
    and no batch is lost. (Writers of different lines get their own asset: test_store.)"""
    store = Store(postgres_url)
    writers = [ReadingWriter(store, tmp_path / f"spool-{i}", line="line1") for i in range(8)]
    barrier = threading.Barrier(len(writers))
    now = utcnow()

    def write(i: int, writer: ReadingWriter) -> None:
        barrier.wait()
        writer.put_many([SensorReading("press-7", s, now, float(i)) for s in ("force", "stroke")]
                        + [SensorReading(f"own-{i}", "force", now, 1.0)])

    threads = [threading.Thread(target=write, args=(i, w)) for i, w in enumerate(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    stats = [w.close() for w in writers]
    assert [s.last_error for s in stats] == [None] * 8  # no writer saw its batch fail and spool
    assert all(s.spooled_rows == 0 for s in stats) and sum(s.written for s in stats) == 2 + 8
    assert sum(s.duplicates for s in stats) == 14  # press-7's two readings, sent eight times, stored once
    with store.session() as session:
        assert session.exec(select(func.count()).select_from(Asset)).one() == 9
        press = session.exec(select(Asset).where(Asset.name == "press-7")).one()
        assert press.line == "line1"
        assert session.exec(select(func.count()).select_from(Sensor).where(Sensor.asset_id == press.id)).one() == 2
    store.close()


def test_health_answers_while_the_database_is_away(tmp_path: Path, fleet: Path, own_postgres) -> None:  # noqa: ANN001
    """/health is what an operator looks at when the database stops; the scheduler's part of
    it reads the database (APScheduler keeps its jobs there) and once failed the whole report
    with a 500. It must answer "degraded", with the reason, and recover when the database does."""
    from fastapi.testclient import TestClient

    from factory_ai.api.app import create_app

    source = pd.read_csv(fleet / "readings.csv").head(50)
    daemon = _line(tmp_path / "line1", "line1", source, own_postgres.url, scheduler=True)
    daemon.start()
    try:
        client = TestClient(create_app(daemon))
        assert client.get("/health").json()["scheduler"]["jobs"]  # the jobs, read from the database
        own_postgres.pause()
        try:
            answer = client.get("/health")
            assert answer.status_code == 503
            report = answer.json()
            assert report["status"] == "degraded" and report["database"]["up"] is False
            assert "connection" in report["scheduler"]["jobs"]["error"].lower()
            assert "error" in report["scheduler"]["last_runs"]
        finally:
            own_postgres.resume()
        assert wait_until(lambda: client.get("/health").status_code == 200, 30), client.get("/health").json()
        assert isinstance(client.get("/health").json()["scheduler"]["jobs"], list)
    finally:
        daemon.stop()
