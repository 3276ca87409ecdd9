"""Forecast scoring on an interval: every asset's latest window through the forecast model.

Why read from the store, not from the connectors' stream: the store is the one place where
readings from every source meet, in time order and without duplicates, and scoring what is
stored means a prediction can always be reproduced from the data behind it. Only the last
``lookback`` of readings is read, so a year of history does not slow every run; the run's
age is counted from the start of that lookback (or the asset's first reading, if later).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

from factory_ai.daemon.live_model import LiveModel
from factory_ai.daemon.metrics import Metrics
from factory_ai.errors import DataError
from factory_ai.forecast.model import ForecastModel
from factory_ai.forecast.predict import AssetForecast, forecast_assets
from factory_ai.forecast.readers import read_store
from factory_ai.ingest.results import ResultWriter
from factory_ai.store.database import Store
from factory_ai.store.records import asset_ids
from factory_ai.store.tables import Prediction

log = logging.getLogger(__name__)


class Scorer:
    def __init__(self, model: LiveModel[ForecastModel], store: Store, results: ResultWriter, metrics: Metrics, *,
                 lookback_hours: float) -> None:
        self.model, self.store, self.results, self.metrics = model, store, results, metrics
        self.lookback = timedelta(hours=lookback_hours)
        self.runs = 0
        self.last_error: str | None = None
        self.last_run: float | None = None

    def score(self) -> list[AssetForecast]:
        """One pass over every asset with readings; returns the forecasts (stored as well)."""
        loaded = self.model.get()
        try:
            history, _ = read_store(self.store, since=datetime.now(UTC) - self.lookback)
        except DataError as exc:
            self.last_error = str(exc)
            log.info("forecast: nothing to score yet (%s)", exc)
            return []
        wanted = [c for c in loaded.model.preprocessor.settings + loaded.model.preprocessor.sensors]
        # Assets without the model's sensors (a camera line, a different machine type) are not
        # this model's business: skip them rather than store an error for each every interval.
        columns = set(history.frame.columns)
        if not set(wanted) <= columns:
            log.warning("forecast: the store lacks %s for model %s", ", ".join(sorted(set(wanted) - columns)),
                        loaded.ref.name)
        scored = [a for a, g in history.per_asset().items() if g[[c for c in wanted if c in columns]].notna().any().any()]
        results = forecast_assets(loaded.model, history, scored)
        ids = asset_ids(self.store, [r.asset for r in results])
        for r in results:
            self.results.put(Prediction(
                asset_id=ids[r.asset], model_name=loaded.ref.name, model_version=loaded.ref.version, rul=r.rul,
                rul_low=r.rul_low, rul_high=r.rul_high, risk=r.risk, horizon=r.horizon,
                provider=loaded.model.provider, error=r.error))
            self.metrics.predictions.labels("error" if r.error else "ok").inc()
        self.runs += 1
        self.last_run = time.time()
        self.last_error = None
        errors = sum(1 for r in results if r.error)
        log.info("forecast: %d assets scored with %s %s (%d with errors)", len(results), loaded.ref.name,
                 loaded.ref.version, errors)
        return results
