"""Readings into the store: batches, duplicates, refusals, backpressure, and a real outage."""

from __future__ import annotations

import queue
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from factory_ai.ingest import ReadingWriter, SensorReading
from factory_ai.store import Store
from factory_ai.store.tables import Reading, Sensor

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _readings(n: int, *, start: int = 0, sensors: int = 10) -> list[SensorReading]:
    return [SensorReading(f"press-{i % 2}", f"s{i % sensors}", T0 + timedelta(seconds=i), float(i), "bar")
            for i in range(start, start + n)]


def _count(store: Store) -> int:
    with store.session() as session:
        return session.execute(select(func.count()).select_from(Reading)).scalar_one()


def test_batches_land_and_duplicates_are_ignored(db_url: str, tmp_path: Path) -> None:
    store = Store(db_url)
    writer = ReadingWriter(store, tmp_path / "spool", batch_size=3000)
    for r in _readings(20_000):
        assert writer.put(r)
    for r in _readings(5_000, start=7_000):  # the same sensor and second again: a replay
        writer.put(r)
    stats = writer.close()
    assert stats.accepted == 25_000 and stats.written == 20_000 and stats.duplicates == 5_000
    assert _count(store) == 20_000 and stats.spooled_rows == 0
    with store.session() as session:
        sensor = session.execute(select(Sensor).where(Sensor.name == "s3")).scalars().first()
        first = session.execute(select(Reading).where(Reading.sensor_id == sensor.id).order_by(Reading.ts)).scalars().first()
    assert sensor.unit == "bar"
    assert first.ts == T0 + timedelta(seconds=3) and first.ts.tzinfo is not None and first.value == 3.0
    store.close()


def test_unacceptable_readings_are_refused_and_counted(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'f.db'}")
    writer = ReadingWriter(store, tmp_path / "spool")
    good = SensorReading("a", "x", T0, 1.0)
    bad = [SensorReading("a", "x", T0, float("nan")), SensorReading("a", "x", T0, float("inf")),
           SensorReading("a", "x", datetime(2026, 3, 1), 1.0), SensorReading("a", "", T0, 1.0),
           SensorReading("a", "x", T0, "12")]  # type: ignore[arg-type]
    assert writer.put(good)
    assert not any(writer.put(r) for r in bad)
    stats = writer.close()
    assert stats.rejected == 5 and stats.written == 1 and _count(store) == 1


def test_a_full_queue_pushes_back_instead_of_growing(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'f.db'}")
    writer = ReadingWriter(store, tmp_path / "spool", max_queue=50, batch_size=10)
    release = threading.Event()
    original = writer._insert  # noqa: SLF001

    def stalled(batch):  # noqa: ANN001, ANN202 - a database that is slow to answer
        release.wait(10)
        return original(batch)

    writer._insert = stalled  # noqa: SLF001
    with pytest.raises(queue.Full):
        for r in _readings(1_000):
            writer.put(r, timeout=0.2)
    assert writer.stats.accepted <= 50 + 10
    release.set()
    stats = writer.close()
    assert stats.written == stats.accepted and _count(store) == stats.accepted


def test_database_outage_spools_then_replays_with_nothing_lost(tmp_path: Path, own_postgres) -> None:  # noqa: ANN001
    server = own_postgres
    store = Store(server.url)
    writer = ReadingWriter(store, tmp_path / "spool", batch_size=1000, max_backoff=0.5)
    for r in _readings(5_000):
        writer.put(r)
    assert writer.flush()
    server.pause()
    for r in _readings(5_000, start=5_000):
        writer.put(r)
    assert writer.flush()
    assert not writer.stats.db_up and writer.stats.spooled_rows == 5_000
    assert len(list((tmp_path / "spool").glob("*.jsonl"))) >= 1
    server.resume()
    for r in _readings(2_000, start=10_000):
        writer.put(r)
    deadline = time.monotonic() + 30
    while writer.stats.spooled_rows and time.monotonic() < deadline:
        time.sleep(0.1)
    stats = writer.close()
    assert stats.db_up and stats.spooled_rows == 0
    assert _count(store) == 12_000 and stats.written == 12_000
    store.close()


def test_a_spool_left_behind_is_replayed_at_the_next_start(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    # A database that never answers (nothing listens on that port): everything goes to disk.
    from tests.servers import free_port

    down = Store(f"postgresql+psycopg://factory@127.0.0.1:{free_port()}/nowhere", check_schema=False)
    writer = ReadingWriter(down, spool, batch_size=500)
    for r in _readings(1_500):
        writer.put(r)
    stats = writer.close(timeout=5)
    assert stats.spooled_rows == 1_500 and stats.written == 0
    store = Store(f"sqlite:///{tmp_path / 'f.db'}")
    again = ReadingWriter(store, spool)
    assert again.stats.spooled_rows == 1_500
    stats = again.close()
    assert _count(store) == 1_500 and stats.spooled_rows == 0 and not list(spool.glob("*.jsonl"))


def test_results_survive_a_database_outage_in_order(tmp_path: Path, own_postgres) -> None:  # noqa: ANN001
    """Inspections written while PostgreSQL is down wait in the spool and land, in order, once
    it is back (the daemon publishes verdicts first, so the line never waits for the store)."""
    from sqlmodel import select

    from factory_ai.ingest.results import ResultWriter
    from factory_ai.store.tables import Inspection

    server = own_postgres
    store = Store(server.url)
    writer = ResultWriter(store, tmp_path / "spool", max_backoff=0.5)
    put = lambda i: writer.put(Inspection(source=f"cam/{i:04d}.png", verdict="pass", scores={"good": 0.9}))  # noqa: E731
    for i in range(50):
        put(i)
    assert writer.flush()
    server.pause()
    for i in range(50, 150):
        put(i)
    assert writer.flush() and not writer.db_up and writer.spooled == 100
    server.resume()
    for i in range(150, 160):
        put(i)
    deadline = time.monotonic() + 30
    while writer.spooled and time.monotonic() < deadline:
        time.sleep(0.1)
    writer.close()
    with store.session() as session:
        sources = session.exec(select(Inspection.source).order_by(Inspection.id)).all()
    assert sources == [f"cam/{i:04d}.png" for i in range(160)]
    store.close()


def test_import_readings_backfills_with_their_own_timestamps(plant: Path) -> None:
    from typer.testing import CliRunner

    from factory_ai.cli import app

    (plant / "export.csv").write_text("asset,time,temp,speed\n"
                                      "press-1,2026-02-01T00:00:00Z,61.5,1200\n"
                                      "press-1,2026-02-01T01:00:00Z,nan,1210\n"
                                      "press-2,2026-02-01T00:30:00+01:00,58.0,990\n")
    runner = CliRunner()
    first = runner.invoke(app, ["db", "import-readings", str(plant / "export.csv")])
    assert first.exit_code == 0, first.output
    assert "5 readings written" in first.output and "1 refused" in first.output  # the NaN
    again = runner.invoke(app, ["db", "import-readings", str(plant / "export.csv")])
    assert "0 readings written" in again.output and "5 already there" in again.output
    with Store(f"sqlite:///{plant / 'var' / 'factory.db'}") as store, store.session() as session:
        stamps = sorted(ts for (ts,) in session.execute(select(Reading.ts)).all())
    assert stamps[0] == datetime(2026, 1, 31, 23, 30, tzinfo=UTC)  # +01:00 converted, kept
    (plant / "cycles.csv").write_text("asset,time,temp\npress-1,1,61.5\n")
    cycles = runner.invoke(app, ["db", "import-readings", str(plant / "cycles.csv")])
    assert cycles.exit_code != 0 and "needs timestamps" in cycles.output
