"""Readings into the store: a bounded queue, batched inserts, a disk spool while the database is away.

Why this shape:

- **Bounded queue.** Connectors call :meth:`ReadingWriter.put`; when the queue is full the
  call waits (backpressure reaches the connector, which slows its polling or leaves messages
  with the broker) instead of memory growing until the daemon is killed.
- **Batches.** One transaction per few thousand readings, through the driver's fastest path
  (``executemany`` on SQLite, ``COPY`` on PostgreSQL): a plant with hundreds of sensors at
  10 Hz is far beyond what one commit per reading can carry.
- **Duplicates are ignored**, not errors: (sensor, timestamp) is unique in the store, so a
  replayed file or a broker's redelivery (QoS 1 delivers at least once) stores each value once.
- **Spool.** When an insert fails because the database is unreachable, the batch is written
  to a file (fsynced) and later batches queue up behind it on disk, so order is kept. The
  writer retries with backoff and replays the spool oldest first once the database answers.
  A spool left behind by a crash is replayed at the next start. An accepted reading is
  therefore either in the database or in the spool, never only in memory longer than one
  flush interval.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update

from factory_ai.errors import first_line
from factory_ai.ingest.reading import SensorReading
from factory_ai.ingest.spool import Backoff, Spool
from factory_ai.store.assets import resolve
from factory_ai.store.database import Store
from factory_ai.store.tables import Asset, Sensor
from factory_ai.store.types import utcnow

log = logging.getLogger(__name__)


@dataclass
class WriterStats:
    accepted: int = 0
    rejected: int = 0
    written: int = 0
    duplicates: int = 0
    spooled_rows: int = 0
    batches: int = 0
    queue_depth: int = 0
    db_up: bool = True
    last_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ReadingWriter:
    def __init__(self, store: Store, spool_dir: Path, *, batch_size: int = 5000, max_queue: int = 100_000,
                 flush_interval: float = 0.25, max_backoff: float = 30.0, line: str | None = None) -> None:
        if store.dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"readings ingestion supports SQLite and PostgreSQL, not {store.dialect}")
        self.store = store
        self.line = line  # stamped on the assets this writer creates (a line's daemon)
        self.spool_dir = Path(spool_dir)
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_backoff = max_backoff
        self.stats = WriterStats()
        self.max_queue = max_queue
        # Chunks of readings as the connectors hand them over; _pending counts readings queued
        # or being written, and is what the bound (and flush) looks at.
        self._chunks: deque[list[SensorReading]] = deque()
        self._pending = 0
        self._cond = threading.Condition()
        self._sensor_ids: dict[tuple[str, str], int] = {}
        self._stop = threading.Event()
        self._backoff = Backoff(cap=max_backoff)
        self._spool = Spool(self.spool_dir)
        self.stats.spooled_rows = self._spool.lines_waiting()
        self._thread = threading.Thread(target=self._run, name="reading-writer", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        """True while the writer thread runs (the systemd watchdog stops pinging otherwise)."""
        return self._thread.is_alive()

    # -- the connector side ---------------------------------------------------------------------
    def put(self, reading: SensorReading, timeout: float | None = None) -> bool:
        """Queue one reading; False (and counted) if it is unacceptable. Blocks while the queue
        is full; raises :class:`queue.Full` if ``timeout`` passes first."""
        return self.put_many([reading], timeout) == 1

    def put_many(self, readings: list[SensorReading], timeout: float | None = None) -> int:
        """Queue readings that arrived together (one poll, one message, one file chunk); returns
        how many were accepted. Unacceptable ones are refused and counted, the rest queued."""
        accepted = list(readings) if _all_plain(readings) else self._accepted(readings)  # a copy: callers reuse lists
        if not accepted:
            return 0
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._pending and self._pending + len(accepted) > self.max_queue:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise queue.Full
                self._cond.wait(remaining)
            self._chunks.append(accepted)
            self._pending += len(accepted)
            self.stats.accepted += len(accepted)
            self.stats.queue_depth = self._pending
            self._cond.notify_all()
        return len(accepted)

    def _accepted(self, readings: list[SensorReading]) -> list[SensorReading]:
        accepted = []
        for reading in readings:
            problem = reading.problem()
            if problem is None:
                accepted.append(reading)
            else:
                self._refuse(reading, problem)
        return accepted

    def _refuse(self, reading: SensorReading, problem: str) -> None:
        with self._cond:
            self.stats.rejected += 1
            rejected = self.stats.rejected
        if rejected <= 10 or rejected % 1000 == 0:
            log.warning("reading %s/%s refused: %s (%d refused so far)", reading.asset, reading.sensor, problem,
                        rejected)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued reading is in the database or the spool."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout)

    def close(self, timeout: float = 10.0) -> WriterStats:
        """Drain the queue (into the database, or the spool if it is away) and stop."""
        self.flush(timeout)
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout)
        self.stats.queue_depth = self._pending
        return self.stats

    # -- the writer thread ---------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            batch = self._drain()
            if batch:
                try:
                    self._handle(batch)
                finally:
                    with self._cond:
                        self._pending -= len(batch)
                        self.stats.queue_depth = self._pending
                        self._cond.notify_all()
            elif self._stop.is_set():
                break
            if self._spool and self._backoff.due():
                self._replay()
        if self._spool:
            self._replay()

    def _drain(self) -> list[SensorReading]:
        """Up to about ``batch_size`` readings, waiting at most one flush interval for the first."""
        with self._cond:
            if not self._chunks and not self._stop.is_set():
                self._cond.wait(self.flush_interval)
            batch: list[SensorReading] = []
            while self._chunks and len(batch) < self.batch_size:
                batch.extend(self._chunks.popleft())
        return batch

    def _handle(self, batch: list[SensorReading]) -> None:
        if self._spool:  # older readings wait on disk: keep the order
            self._to_spool(batch)
            return
        try:
            self._insert(batch)
        except Exception as exc:  # noqa: BLE001 - any database failure: keep the data, retry later
            self._down(exc)
            self._to_spool(batch)

    def _replay(self) -> None:
        while (oldest := self._spool.oldest()) is not None:
            path, lines = oldest
            try:
                batch = [_reading(line) for line in lines]
                self._insert(batch)
            except Exception as exc:  # noqa: BLE001
                self._down(exc)
                return
            self._spool.remove_oldest()
            with self._cond:
                self.stats.spooled_rows -= len(batch)
            log.info("replayed %d spooled readings from %s", len(batch), path.name)
        if not self.stats.db_up:
            log.warning("database is back: spool replayed")
        self.stats.db_up = True
        self._backoff.succeeded()

    def _down(self, exc: Exception) -> None:
        message = first_line(exc)
        if self.stats.db_up:
            log.error("database unavailable (%s): spooling readings to %s", message, self.spool_dir)
        self.stats.db_up, self.stats.last_error = False, message
        self._backoff.failed()

    def _to_spool(self, batch: list[SensorReading]) -> None:
        self._spool.write(json.dumps([r.asset, r.sensor, r.unit, r.ts.isoformat(), r.value]) for r in batch)
        with self._cond:
            self.stats.spooled_rows += len(batch)

    # -- database --------------------------------------------------------------------------------
    def _insert(self, batch: list[SensorReading]) -> None:
        if self.store.dialect == "sqlite":
            try:  # in steady state every sensor is known: no separate pass over the batch for new ones
                rows = _sqlite_rows(batch, self._sensor_ids)
            except KeyError:
                rows = _sqlite_rows(batch, self._ids(batch))
            inserted = _insert_sqlite(self.store, rows)
        else:
            ids = self._ids(batch)
            rows = [(ids[r.asset, r.sensor], r.ts if r.ts.tzinfo is UTC else r.ts.astimezone(UTC), float(r.value))
                    for r in batch]
            inserted = _insert_postgres(self.store, rows)
        with self._cond:
            self.stats.written += inserted
            self.stats.duplicates += len(batch) - inserted
            self.stats.batches += 1

    def _ids(self, batch: list[SensorReading]) -> dict[tuple[str, str], int]:
        """Sensor ids for the batch, creating assets and sensors first seen here.

        Assets are this writer's line's: another line's ``press-1`` is another asset. One
        without a line of that name (an event or forecast recorded before any reading) is
        taken over by the first line that reads it.

        Several daemons (one per line) may meet a new asset or sensor at the same moment on one
        PostgreSQL: creation is an insert that does nothing on conflict, followed by a read, so
        the second daemon takes the first one's row instead of failing its batch."""
        missing = {(r.asset, r.sensor): r.unit for r in batch if (r.asset, r.sensor) not in self._sensor_ids}
        if missing:
            insert = _insert_ignoring(self.store.dialect)
            now = utcnow()
            line = self.line or None
            mine = func.coalesce(Asset.line, "") == (line or "")
            with self.store.session() as session:
                names = sorted({a for a, _ in missing})
                if line:
                    session.execute(update(Asset).where(Asset.name.in_(names), Asset.line.is_(None),
                                                        ~Asset.name.in_(select(Asset.name).where(mine)))
                                    .values(line=line))
                    held = {}
                else:  # no line of its own (a backfill): the asset the name means, whatever its line
                    held = resolve(session, names, ambiguous="skip")
                new = [n for n in names if n not in held]
                if new:
                    session.execute(insert(Asset).values([{"name": n, "line": line, "created_at": now} for n in new])
                                    .on_conflict_do_nothing())
                    held.update({name: asset_id for asset_id, name in session.execute(
                        select(Asset.id, Asset.name).where(Asset.name.in_(new), mine)).all()})
                assets = {asset_id: name for name, asset_id in held.items()}
                session.execute(insert(Sensor).values([
                    {"asset_id": held[a], "name": name, "unit": unit, "created_at": now}
                    for (a, name), unit in missing.items()]).on_conflict_do_nothing(index_elements=["asset_id", "name"]))
                for sensor_id, asset_id, name in session.execute(
                        select(Sensor.id, Sensor.asset_id, Sensor.name).where(Sensor.asset_id.in_(list(assets)))):
                    self._sensor_ids.setdefault((assets[asset_id], name), int(sensor_id))
        return self._sensor_ids


def _all_plain(readings: list[SensorReading]) -> bool:
    """True when every reading is the common, certainly acceptable kind: a finite float, named,
    stamped in UTC. One tight pass instead of ``problem()`` per reading, which was a fifth of
    SQLite's ingest time; anything else (ints, other zones, a bad value) takes the full check."""
    try:
        for r in readings:
            v = r.value
            if type(v) is not float or v - v != 0.0 or r.ts.tzinfo is not UTC or not r.asset or not r.sensor:
                return False  # v - v is nan for nan and inf
    except AttributeError:  # a timestamp that is not a datetime
        return False
    return True


def _insert_ignoring(dialect: str):  # noqa: ANN202 - the dialect's insert, which has on_conflict_do_nothing
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def _sqlite_rows(batch: list[SensorReading], ids: dict[tuple[str, str], int]) -> list[tuple[int, str, float]]:
    """Rows as SQLite stores them, timestamps as UTC text (the store's UTCDateTime format).

    Formatting a datetime costs more than inserting the row, and the readings of one poll,
    message or replay step share their timestamp, so each distinct instant is formatted once
    per batch (aware datetimes hash by instant, so equal times in other zones share it too).
    """
    text: dict[datetime, str] = {}
    rows: list[tuple[int, str, float]] = []
    append = rows.append
    last, stamp = None, ""
    for r in batch:
        ts = r.ts
        if ts is not last:  # one poll's readings usually share the very same datetime object
            found = text.get(ts)
            if found is None:
                utc = ts if ts.tzinfo is UTC else ts.astimezone(UTC)
                found = text[ts] = utc.replace(tzinfo=None).isoformat(" ", "microseconds")
            last, stamp = ts, found
        append((ids[r.asset, r.sensor], stamp, r.value))
    return rows


def _insert_sqlite(store: Store, rows: list[tuple[int, str, float]]) -> int:
    connection = store.engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.executemany("INSERT OR IGNORE INTO readings (sensor_id, ts, value) VALUES (?, ?, ?)", rows)
        inserted = cursor.rowcount
        connection.commit()
        return inserted
    finally:
        connection.close()


def _insert_postgres(store: Store, rows: list[tuple[int, datetime, float]]) -> int:
    connection = store.engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute("CREATE TEMP TABLE IF NOT EXISTS readings_in (sensor_id bigint, ts timestamptz, "
                       "value double precision) ON COMMIT DELETE ROWS")
        with cursor.copy("COPY readings_in (sensor_id, ts, value) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute("INSERT INTO readings (sensor_id, ts, value) SELECT sensor_id, ts, value FROM readings_in "
                       "ON CONFLICT (sensor_id, ts) DO NOTHING")
        inserted = cursor.rowcount
        connection.commit()
        return inserted
    except BaseException:
        connection.rollback()
        raise
    finally:
        connection.close()


def _reading(line: str) -> SensorReading:
    asset, sensor, unit, ts, value = json.loads(line)
    return SensorReading(asset, sensor, datetime.fromisoformat(ts), float(value), unit)
