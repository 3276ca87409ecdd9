"""Forecast scoring on an interval: every asset's latest window through the forecast model.

Why read from the store, not from the connectors' stream: the store is the one place where
readings from every source meet, in time order and without duplicates, and scoring what is
stored means a prediction can always be reproduced from the data behind it. Only the last
``lookback`` of readings is read, so a year of history does not slow every run; the run's
age is counted from the start of that lookback (or the asset's first reading, if later).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pandas as pd

from factory_ai.daemon.live_model import LiveModel
from factory_ai.daemon.metrics import Metrics
from factory_ai.errors import DataError
from factory_ai.forecast.history import ASSET
from factory_ai.forecast.model import ForecastModel
from factory_ai.forecast.predict import AssetForecast, forecast_assets
from factory_ai.forecast.readers import read_store
from factory_ai.ingest.results import ResultWriter
from factory_ai.store.database import Store
from factory_ai.store.records import prediction_rows

log = logging.getLogger(__name__)


class Scorer:
    def __init__(self, model: LiveModel[ForecastModel], store: Store, results: ResultWriter, metrics: Metrics, *,
                 lookback_hours: float) -> None:
        self.model, self.store, self.results, self.metrics = model, store, results, metrics
        self.lookback = timedelta(hours=lookback_hours)
        self.runs = 0
        self.last_error: str | None = None
        self._warned = None  # the model version a missing-sensor warning was given for

    def score(self) -> list[AssetForecast]:
        """One pass over every asset with readings; returns the forecasts (stored as well)."""
        loaded = self.model.get()
        try:
            history, _ = read_store(self.store, since=datetime.now(UTC) - self.lookback)
        except DataError as exc:
            self.last_error = str(exc)
            log.info("forecast: nothing to score yet (%s)", exc)
            return []
        preprocessor = loaded.model.preprocessor
        wanted = preprocessor.settings + preprocessor.sensors
        present = [c for c in wanted if c in history.frame.columns]
        missing = sorted(set(wanted) - set(present))
        if missing and self._warned != loaded.ref:
            log.warning("forecast: the store has no %s for model %s", ", ".join(missing), loaded.ref.name)
            self._warned = loaded.ref
        # Assets with none of the model's sensors (a camera line, another kind of machine) are
        # not this model's business: skip them rather than store an error for each every interval.
        frame = history.frame
        scored = list(pd.unique(frame.loc[frame[present].notna().any(axis=1), ASSET])) if present else []
        results = forecast_assets(loaded.model, history, scored)
        for row in prediction_rows(self.store, results, loaded.ref.name, loaded.ref.version, loaded.model.provider):
            self.results.put(row)
        for r in results:
            self.metrics.predictions.labels("error" if r.error else "ok").inc()
        self.runs += 1
        self.last_error = None
        errors = sum(1 for r in results if r.error)
        log.info("forecast: %d assets scored with %s %s (%d with errors)", len(results), loaded.ref.name,
                 loaded.ref.version, errors)
        return results
