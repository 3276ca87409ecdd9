"""Benchmark: readings per second into the store, the batched writer against a naive loop.

For SQLite (a file under ``--out``) and, where PostgreSQL is installed, a throw-away server
on 127.0.0.1, it times:

- the :class:`~factory_ai.ingest.ReadingWriter` pipeline (bounded queue, batches, duplicates
  ignored) on ``--n`` readings from 100 sensors, handed over 1,000 at a time, from the first
  ``put_many`` until ``close``;
- a naive loop: one ORM ``Reading`` and one commit per reading (``--naive-n`` of them);

and prints readings/s for each and the ratio. Targets: >= 200k readings/s into SQLite and
>= 20x the naive loop.

    python bench/ingest.py [--n 500000] [--naive-n 3000] [--stages]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=500_000)
    parser.add_argument("--naive-n", type=int, default=3_000)
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "ingest")
    parser.add_argument("--stages", action="store_true", help="Also time each stage of the SQLite path per reading.")
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    targets = [("SQLite", f"sqlite:///{args.out / 'bench.db'}", None)]
    try:
        from tests.servers import start_postgres

        server = start_postgres()
        targets.append(("PostgreSQL", server.url, server))
    except Exception as exc:  # noqa: BLE001
        print(f"PostgreSQL skipped: {exc}")
    print(f"{'database':<11} {'batched readings/s':>19} {'naive readings/s':>17} {'ratio':>7}")
    for name, url, server in targets:
        try:
            batched = _batched(url, args.n, args.out / f"spool-{name}")
            naive = _naive(url, args.naive_n)
            target = "  (target >= 200k/s)" if name == "SQLite" else ""
            print(f"{name:<11} {batched:19,.0f} {naive:17,.0f} {batched / naive:6.1f}x{target}", flush=True)
        finally:
            if server is not None:
                server.stop()
    if args.stages:
        _stages(f"sqlite:///{args.out / 'stages.db'}", min(args.n, 200_000), args.out / "spool-stages")
    return 0


def _stages(url: str, n: int, spool: Path) -> None:
    """Where a SQLite reading's time goes: checking, sensor ids, row building, the bare insert."""
    from factory_ai.ingest import ReadingWriter
    from factory_ai.ingest.writer import _insert_sqlite, _sqlite_rows
    from factory_ai.store import Store

    store = Store(url)
    readings = _readings(n, offset=20_000_000)
    writer = ReadingWriter(store, spool)
    writer.put_many(readings[:1])
    writer.flush()  # sensors exist from here on

    def timed(name: str, work):  # noqa: ANN001, ANN202
        start = time.perf_counter()
        result = work()
        print(f"  {name:<28} {(time.perf_counter() - start) / n * 1e6:6.2f} us per reading")
        return result

    print(f"SQLite stages ({n:,} readings):")
    timed("check (SensorReading.problem)", lambda: [r.problem() for r in readings])
    ids = timed("sensor ids", lambda: writer._ids(readings))
    rows = timed("rows (timestamps formatted)", lambda: _sqlite_rows(readings, ids))
    timed("bare executemany + commit", lambda: [_insert_sqlite(store, rows[i:i + 10_000])
                                              for i in range(0, n, 10_000)])
    writer.close()
    store.close()


def _readings(n: int, offset: int = 0):  # noqa: ANN202
    from factory_ai.ingest import SensorReading

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    return [SensorReading(f"line-{i % 4}", f"sensor-{i % 100}", t0 + timedelta(milliseconds=10 * (i // 100)),
                          float(i % 1000) / 10, "unit") for i in range(offset, offset + n)]


def _batched(url: str, n: int, spool: Path) -> float:
    from factory_ai.ingest import ReadingWriter
    from factory_ai.store import Store

    store = Store(url)
    readings = _readings(n)
    writer = ReadingWriter(store, spool, batch_size=10_000, max_queue=200_000)
    start = time.perf_counter()
    for i in range(0, n, 1000):  # as connectors hand them over: one poll or file chunk at a time
        writer.put_many(readings[i : i + 1000])
    stats = writer.close(timeout=300)
    seconds = time.perf_counter() - start
    assert stats.written == n, stats
    store.close()
    return n / seconds


def _naive(url: str, n: int) -> float:
    from sqlmodel import Session, select

    from factory_ai.store import Store
    from factory_ai.store.tables import Asset, Reading, Sensor

    store = Store(url)
    readings = _readings(n, offset=10_000_000)  # later timestamps: no clash with the batched run
    start = time.perf_counter()
    with Session(store.engine) as session:
        ids: dict[tuple[str, str], int] = {}
        for r in readings:
            key = (r.asset, r.sensor)
            if key not in ids:
                asset = session.exec(select(Asset).where(Asset.name == r.asset)).first()
                sensor = session.exec(select(Sensor).where(Sensor.asset_id == asset.id, Sensor.name == r.sensor)).first()
                ids[key] = sensor.id
            session.add(Reading(sensor_id=ids[key], ts=r.ts, value=r.value))
            session.commit()
    seconds = time.perf_counter() - start
    store.close()
    return n / seconds


if __name__ == "__main__":
    sys.exit(main())
