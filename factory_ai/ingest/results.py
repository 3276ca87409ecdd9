"""Inspections and predictions into the store, off the hot path and without loss.

Why a writer of its own: a verdict must reach the reject gate within milliseconds, so the
daemon publishes it first and hands the row here; a background thread inserts rows in small
batches. While the database is away rows go to a spool file (fsynced, one JSON object per
line with its table) and are replayed in order when it answers again, as readings are.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from pathlib import Path

from sqlmodel import SQLModel

from factory_ai.ingest.spool import Backoff, Spool
from factory_ai.store.database import Store
from factory_ai.store.tables import HealthScore, Inspection, Prediction

log = logging.getLogger(__name__)

_TABLES: dict[str, type[SQLModel]] = {"inspections": Inspection, "predictions": Prediction,
                                      "health_scores": HealthScore}


class ResultWriter:
    def __init__(self, store: Store, spool_dir: Path, *, max_queue: int = 50_000, flush_interval: float = 0.2,
                 max_backoff: float = 30.0) -> None:
        self.store = store
        self.spool_dir = Path(spool_dir)
        self.max_queue = max_queue
        self.flush_interval = flush_interval
        self.written = 0
        self._spool = Spool(self.spool_dir)
        self.spooled = self._spool.lines_waiting()
        self.db_up = True
        self._rows: deque[SQLModel] = deque()
        self._busy = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._backoff = Backoff(cap=max_backoff)
        self._thread = threading.Thread(target=self._run, name="result-writer", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        """True while the writer thread runs (the systemd watchdog stops pinging otherwise)."""
        return self._thread.is_alive()

    def put(self, row: Inspection | Prediction | HealthScore) -> None:
        """Queue one row; waits while the queue is full (the bound keeps memory flat)."""
        if row.__tablename__ not in _TABLES:
            raise TypeError(f"cannot write {type(row).__name__} rows")
        with self._cond:
            self._cond.wait_for(lambda: len(self._rows) < self.max_queue)
            self._rows.append(row)
            self._cond.notify_all()

    @property
    def queue_depth(self) -> int:
        return len(self._rows) + self._busy

    def flush(self, timeout: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: not self._rows and not self._busy, timeout)

    def close(self, timeout: float = 10.0) -> None:
        self.flush(timeout)
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._rows and not self._stop.is_set():
                    self._cond.wait(self.flush_interval)
                batch = [self._rows.popleft() for _ in range(min(len(self._rows), 500))]
                self._busy = len(batch)
            try:
                if batch:
                    if self._spool:
                        self._to_spool(batch)
                    else:
                        try:
                            self._insert(batch)
                        except Exception as exc:  # noqa: BLE001 - any database failure: keep the rows
                            self._down(exc)
                            self._to_spool(batch)
                if self._spool and self._backoff.due():
                    self._replay()
            finally:
                with self._cond:
                    self._busy = 0
                    self._cond.notify_all()
            if self._stop.is_set() and not self._rows:
                break

    def _insert(self, batch: list[SQLModel]) -> None:
        # Fresh copies: a failed attempt must not leave the originals bound to a dead session.
        self.store.add_all([type(row).model_validate(row.model_dump()) for row in batch])
        self.written += len(batch)
        if not self.db_up:
            log.warning("database is back: results are being stored again")
        self.db_up = True
        self._backoff.succeeded()

    def _down(self, exc: Exception) -> None:
        if self.db_up:
            log.error("database unavailable (%s): spooling results to %s", str(exc).splitlines()[0], self.spool_dir)
        self.db_up = False
        self._backoff.failed()

    def _to_spool(self, batch: list[SQLModel]) -> None:
        self._spool.write(json.dumps({"table": row.__tablename__, "row": row.model_dump(mode="json", exclude={"id"})})
                          for row in batch)
        self.spooled += len(batch)

    def _replay(self) -> None:
        while (oldest := self._spool.oldest()) is not None:
            try:
                rows = [_TABLES[item["table"]].model_validate(item["row"]) for item in map(json.loads, oldest[1])]
                self._insert(rows)
            except Exception as exc:  # noqa: BLE001
                self._down(exc)
                return
            self._spool.remove_oldest()
            self.spooled -= len(rows)
