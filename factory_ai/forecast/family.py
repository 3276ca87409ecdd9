"""The failure forecast as a model family (see ``factory_ai.family``): line side only."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from factory_ai.family import Family, Retraining, Scored


class Forecast(Family):
    id = "forecast"
    key = "forecast"
    title = "failure forecast"
    train_command = "forecast"
    role = "score"
    scored_word = "forecast"

    def __init__(self) -> None:
        self.retraining = Retraining(job="retrain-forecast", run=_retrain, cron="0 3 * * 0")

    def load(self, model_dir: Path, *, device: str = "auto", threads: int = 0, int8: bool = False) -> Any:
        from factory_ai.forecast.model import ForecastModel

        return ForecastModel.load(model_dir, device=device, threads=threads)

    def models_in_use(self, settings: Any) -> list[str]:
        return [settings.daemon.forecast_model] if settings.daemon.forecast_model else []

    def score(self, model: Any, ref: Any, store: Any, *, since: datetime, state: dict[str, Any]) -> Scored:
        """Forecast every asset that has any of the model's sensors from its latest window.

        Assets with none of them (a camera line, another kind of machine) are not this model's
        business: they are skipped rather than given an error row every interval. Missing
        sensors are warned about once per model version."""
        import logging

        import pandas as pd

        from factory_ai.errors import DataError
        from factory_ai.forecast.predict import forecast_assets
        from factory_ai.history.frame import ASSET
        from factory_ai.history.readers import read_store
        from factory_ai.store.records import prediction_rows

        try:
            history, _ = read_store(store, since=since)
        except DataError as exc:
            logging.getLogger(__name__).info("forecast: nothing to score yet (%s)", exc)
            return Scored([], [], note=str(exc))
        preprocessor = model.preprocessor
        wanted = preprocessor.settings + preprocessor.sensors
        present = [c for c in wanted if c in history.frame.columns]
        missing = sorted(set(wanted) - set(present))
        if missing and state.get("warned") != ref:
            logging.getLogger(__name__).warning("forecast: the store has no %s for model %s", ", ".join(missing),
                                                ref.name)
            state["warned"] = ref
        frame = history.frame
        scored = list(pd.unique(frame.loc[frame[present].notna().any(axis=1), ASSET])) if present else []
        results = forecast_assets(model, history, scored)
        return Scored(results, prediction_rows(store, results, ref.name, ref.version, model.provider))

    def predict_history(self, model: Any, history: Any, assets: list[str] | None, *, every_row: bool = False) -> list:
        from factory_ai.errors import DataError
        from factory_ai.forecast.predict import forecast_assets

        if every_row:
            raise DataError("--every-row is for health models; a forecast judges each asset's latest window")
        return forecast_assets(model, history, assets)

    def store_results(self, store: Any, results: list, ref: Any, provider: str) -> int:
        from factory_ai.store.records import record_predictions

        return record_predictions(store, results, ref.name, ref.version, provider)

    def headline(self, card: dict[str, Any]) -> dict[str, float]:
        test = (card.get("metrics") or {}).get("test") or {}
        out = {}
        for group, key, name in (("rul", "rmse_capped_truth", "RUL RMSE"), ("rul", "mae", "RUL MAE"),
                                 ("rul", "interval_coverage", "RUL interval coverage"), ("risk", "f1", "risk F1"),
                                 ("risk", "pr_auc", "risk PR-AUC"), ("risk", "brier", "risk Brier")):
            value = (test.get(group) or {}).get(key)
            if isinstance(value, int | float):
                out[name] = float(value)
        return out

    def figure(self, card: dict[str, Any]) -> str:
        headline = self.headline(card)
        if "RUL RMSE" in headline:
            return f"RMSE {headline['RUL RMSE']:.2f}"
        return f"F1 {headline['risk F1']:.3f}" if "risk F1" in headline else "-"

    def describe(self, card: dict[str, Any]) -> list[str]:
        lines = [f"forecast:   {card['task']}, window {card['window']} rows, horizon {card['horizon']:g} "
                 f"{card['time_unit']}s" + (f", RUL cap {card['rul_cap']:g}" if card.get("rul_cap") else ""),
                 f"channels:   {', '.join(card['features']['channels'])} ({card['features']['regimes']} regimes)",
                 f"combine:    {json.dumps(card['combine'])}"]
        for part in ("validation", "test"):
            m = (card.get("metrics") or {}).get(part)
            if m:
                lines.append(f"{part + ':':<11} {_line(m)}")
        return lines

    def drift_features(self, card: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return dict((card.get("drift_reference") or {}).get("sensors") or {})

    def drift_samples(self, session: Any, model: str, feature: str, since: datetime, limit: int) -> np.ndarray:
        from sqlmodel import select

        from factory_ai.store.tables import Reading, Sensor

        rows = session.exec(select(Reading.value).join(Sensor, Sensor.id == Reading.sensor_id)
                            .where(Sensor.name == feature, Reading.ts >= since)
                            .order_by(Reading.ts.desc()).limit(limit)).all()
        values = np.asarray(rows, dtype=np.float64)
        return values[np.isfinite(values)]

    def drift_subject(self, feature: str) -> str:
        return f"sensor {feature}"


def _line(m: dict[str, Any]) -> str:
    parts = [f"{m['n']} windows ({m['scope']})"]
    if m.get("rul"):
        r = m["rul"]
        parts.append(f"RMSE {r['rmse_capped_truth']:.2f}, interval coverage {r['interval_coverage']:.0%}")
    if m.get("risk"):
        k = m["risk"]
        parts.append(f"risk F1 {k['f1']:.3f}, PR-AUC {k['pr_auc']:.3f}")
    return "; ".join(parts)


def _retrain(kit: Any) -> dict[str, Any]:
    from factory_ai.forecast.retrain import challenge

    return challenge(kit)


FORECAST = Forecast()
