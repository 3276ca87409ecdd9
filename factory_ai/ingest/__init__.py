"""Ingestion: sensor readings from connectors into the store, fast and without loss.

- :class:`~factory_ai.ingest.reading.SensorReading` is what every connector produces.
- :class:`~factory_ai.ingest.writer.ReadingWriter` takes readings through a bounded queue
  (backpressure, never unbounded memory) into batched inserts that ignore duplicates, and
  spools batches to disk while the database is away, replaying them in order when it returns.
- :class:`~factory_ai.ingest.results.ResultWriter` does the same for inspections and
  predictions, so a verdict is published before it is stored.
- :mod:`~factory_ai.ingest.spool` holds the spool files and retry backoff both share.
"""

from factory_ai.ingest.reading import SensorReading
from factory_ai.ingest.writer import ReadingWriter, WriterStats

__all__ = ["ReadingWriter", "SensorReading", "WriterStats"]
