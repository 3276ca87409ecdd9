"""Connectors bring data in: one TOML file per source in ``connectors/``, validated on load.

``config`` defines every kind's keys (and refuses unknown ones, naming file and key);
each kind lives in its own module and delivers :class:`~factory_ai.ingest.SensorReading`
batches to a :class:`~factory_ai.ingest.ReadingWriter`.
"""
