"""Backfill: a historian or CMMS export of past readings into the store, timestamps kept.

Why beside the live connectors: a plant that starts with factory-ai already has months of
history (and the failures that ended it) in a historian. Replay (``csv-replay``) restamps rows
as if they arrived now, which is right for trying the daemon but wrong for training; a backfill
keeps each reading's own time, so events recorded with ``factory-ai events`` line up with it
and ``retrain-forecast`` can learn from day one. The rows go through the same writer as live
data: refused values are counted, never silently stored, and re-importing a file adds nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from factory_ai.errors import DataError
from factory_ai.history.frame import ASSET, TIME, History, from_hours
from factory_ai.ingest.reading import SensorReading
from factory_ai.ingest.writer import ReadingWriter, WriterStats

CHUNK = 50_000


def backfill(store, history: History, spool_dir: Path) -> WriterStats:  # noqa: ANN001
    """Write every value of ``history`` (timestamped, so hours since 1970) as a reading."""
    if history.time_unit != "hour":
        raise DataError("a backfill needs timestamps; this history counts cycles (replay it with csv-replay instead)")
    frame = history.frame
    times = from_hours(frame[TIME].to_numpy()).to_pydatetime()
    assets = frame[ASSET].to_numpy()
    writer = ReadingWriter(store, spool_dir, batch_size=CHUNK)
    try:
        for sensor in history.settings + history.sensors:
            values = frame[sensor].to_numpy(np.float64)
            for start in range(0, len(frame), CHUNK):
                stop = start + CHUNK
                writer.put_many([SensorReading(str(a), sensor, t, float(v)) for a, t, v in
                                 zip(assets[start:stop], times[start:stop], values[start:stop], strict=True)])
    finally:
        stats = writer.close(timeout=600)
    return stats
