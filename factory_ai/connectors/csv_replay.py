"""``csv-replay``: sensor history replayed as if it were arriving now.

Why: a plant engineer tries factory-ai on last month's export before connecting it to a live
PLC, and the demo and tests need a live-looking source without hardware. Rows are replayed
in time order at ``speed`` data-seconds per second (restamped to start now, so stored times
look live), handed to the writer a time step at a time.

At a speed above 1, a clock that starts now runs ahead of the wall clock, and the store fills
with readings stamped in the future. ``catch_up_hours`` starts the clock that far in the past
instead: the replay runs at ``speed`` until it reaches the present and then in real time, so
every reading is stamped at or before the moment it is stored (the demo fills a week of
history in 20 s this way, and its report sees it).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import numpy as np

from factory_ai.connectors.base import Connector
from factory_ai.connectors.config import CsvReplay
from factory_ai.errors import FactoryAIError
from factory_ai.history.frame import ASSET, TIME
from factory_ai.history.readers import read
from factory_ai.ingest import ReadingWriter, SensorReading

log = logging.getLogger(__name__)


def replay(config: CsvReplay, writer: ReadingWriter, stop: threading.Event, *, now: datetime | None = None) -> int:
    """Replay the file once (or until ``stop``, when ``loop``); returns readings accepted."""
    history, notes = read(config.path, config.format, asset_col=config.asset_column, time_col=config.time_column,
                          run_to_failure=False)
    for note in notes:
        log.info("%s: %s", config.name, note)
    frame = history.frame
    columns = history.settings + history.sensors
    values = frame[columns].to_numpy(np.float64)
    seconds = frame[TIME].to_numpy() * (3600.0 if history.time_unit == "hour" else config.cycle_seconds)
    order = np.argsort(seconds, kind="stable")
    assets = frame[ASSET].to_numpy()
    accepted = 0
    lead = config.catch_up_hours * 3600.0 if config.restamp and config.catch_up_hours else None
    while True:
        origin = (now or datetime.now(UTC)) if config.restamp else datetime(1970, 1, 1, tzinfo=UTC)
        if lead is not None:
            origin -= timedelta(seconds=lead)
        first = float(seconds[order[0]]) if len(order) else 0.0
        started = time.monotonic()
        for group in np.split(order, np.flatnonzero(np.diff(seconds[order])) + 1):
            if stop.is_set():
                return accepted
            offset = float(seconds[group[0]]) - (first if config.restamp else 0.0)
            # Fast until the replay's clock meets the wall clock, real time after that.
            due = started + (offset / config.speed if lead is None else max(offset / config.speed, offset - lead))
            wait = due - time.monotonic()
            if wait > 0 and stop.wait(wait):
                return accepted
            ts = origin + timedelta(seconds=offset)
            batch = [SensorReading(str(assets[i]), column, ts, float(values[i, j]), config.units.get(column))
                     for i in group for j, column in enumerate(columns)]
            accepted += writer.put_many(batch)
        if not config.loop:
            return accepted
        now = None


class CsvReplayConnector(Connector):
    kind = "csv-replay"

    def __init__(self, config: CsvReplay, writer: ReadingWriter) -> None:
        super().__init__(config.name)
        self.config, self.writer = config, writer
        self.state.detail["path"] = str(config.path)

    def run(self) -> None:
        self.state.up = True
        try:
            accepted = replay(self.config, _Counting(self.writer, self), self.stopping)
        except (OSError, ValueError, KeyError, FactoryAIError) as exc:  # unreadable file or missing columns: say so, stay down
            self.failed(f"cannot replay {self.config.path}: {exc}")
            return
        self.state.detail["finished"] = not self.stopping.is_set()
        log.info("%s: replay %s (%d readings accepted)", self.name,
                 "stopped" if self.stopping.is_set() else "finished", accepted)


class _Counting:
    """The writer, counting what passes through for the connector's state."""

    def __init__(self, writer: ReadingWriter, connector: Connector) -> None:
        self.writer, self.connector = writer, connector

    def put_many(self, readings: list[SensorReading], timeout: float | None = None) -> int:
        accepted = self.writer.put_many(readings, timeout)
        self.connector.data(accepted)
        return accepted
