"""Sensor histories: one frame of readings per asset over time, read from files or the store.

Why a package of its own: the failure forecast trains and scores on these histories, machine
health does too, the CSV replay connector replays them and the backfill writes them into the
store. So they sit below every model family and beside ingest, and no family owns them.

- :mod:`~factory_ai.history.frame`: the :class:`~factory_ai.history.frame.History` frame and
  the hours-since-1970 conversions every timestamped history uses;
- :mod:`~factory_ai.history.readers`: wide and long CSV and Parquet, C-MAPSS, AI4I and the
  store's readings, into that frame.
"""
