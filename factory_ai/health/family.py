"""Machine health as a model family (see ``factory_ai.family``): line side only."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from factory_ai.family import Family, Retraining, Scored

log = logging.getLogger(__name__)


class Health(Family):
    id = "health"
    key = "health"
    title = "machine health"
    train_command = "health"
    role = "score"

    def __init__(self) -> None:
        self.retraining = Retraining(job="retrain-health", run=_retrain, cron="0 5 * * 0")

    def load(self, model_dir: Path, *, device: str = "auto", threads: int = 0, int8: bool = False) -> Any:
        from factory_ai.health.model import HealthModel

        return HealthModel.load(model_dir, device=device, threads=threads)

    def models_in_use(self, settings: Any) -> list[str]:
        return [settings.daemon.health_model] if settings.daemon.health_model else []

    def score(self, model: Any, ref: Any, store: Any, *, since: datetime, state: dict[str, Any]) -> Scored:
        """The health of every asset that has the model's sensors, from its latest windows."""
        import pandas as pd

        from factory_ai.errors import DataError
        from factory_ai.health.scoring import score_history
        from factory_ai.history.frame import ASSET
        from factory_ai.history.readers import read_store

        try:
            history, _ = read_store(store, since=since)
        except DataError as exc:
            log.info("health: nothing to score yet (%s)", exc)
            return Scored([], [], note=str(exc))
        p = model.preprocessor
        wanted = p.settings + p.sensors
        present = [c for c in wanted if c in history.frame.columns]
        missing = sorted(set(wanted) - set(present))
        if missing and state.get("warned") != ref:
            log.warning("health: the store has no %s for model %s", ", ".join(missing), ref.name)
            state["warned"] = ref
        frame = history.frame
        scored = list(pd.unique(frame.loc[frame[present].notna().any(axis=1), ASSET])) if present else []
        results = score_history(model, history, [str(a) for a in scored])
        return Scored(results, rows(store, results, ref.name, ref.version, model.provider))

    def predict_history(self, model: Any, history: Any, assets: list[str] | None, *, every_row: bool = False) -> list:
        from factory_ai.health.scoring import score_history

        return score_history(model, history, assets, every_row=every_row)

    def store_results(self, store: Any, results: list, ref: Any, provider: str) -> int:
        found = rows(store, results, ref.name, ref.version, provider)
        store.add_all(found)
        return len(found)

    def headline(self, card: dict[str, Any]) -> dict[str, float]:
        shipped = (card.get("metrics") or {}).get("shipped") or {}
        out: dict[str, float] = {}
        if shipped.get("degrading_windows"):
            out["F1 degrading vs normal"] = float(shipped["f1"])
            if shipped.get("failures"):
                out["failures caught"] = shipped["failures_caught"] / shipped["failures"]
        alarm = card.get("alarm") or {}
        if "measured_per_window" in alarm:
            out["false alarms per window"] = float(alarm["measured_per_window"])
        return out

    def figure(self, card: dict[str, Any]) -> str:
        headline = self.headline(card)
        if "F1 degrading vs normal" in headline:
            return f"F1 {headline['F1 degrading vs normal']:.3f}"
        alarm = card.get("alarm") or {}
        return f"{alarm.get('measured_per_window', float('nan')):.1e} false alarms/window" if alarm else "-"

    def describe(self, card: dict[str, Any]) -> list[str]:
        alarm, normal = card["alarm"], card["normal"]
        lines = [f"health:     members {', '.join(card['combine'])} ({card.get('shipped_because', '')}), window "
                 f"{card['window']} rows",
                 f"sensors:    {', '.join(card['features']['channels'])} ({card['features']['regimes']} regimes)",
                 f"normal:     {normal['rule']}; {normal['training_rows']} rows learned, {normal['holdout_rows']} "
                 f"held out",
                 f"alarm:      score > {alarm['threshold']:.3f} in {alarm['k']} of {alarm['n']} windows "
                 f"({alarm['false_alarm_rate']:g} false alarms {alarm['false_alarm_unit']} targeted; measured "
                 f"{alarm['measured_per_window']:.2e} per window on {alarm['holdout_windows']})"]
        for name, m in ((card.get("metrics") or {}).get("candidates") or {}).items():
            figures = f"threshold {m['threshold']:.3f}, false alarms {m['false_alarms']}/{m['normal_windows']}"
            if m.get("degrading_windows"):
                figures += f", F1 {m['f1']:.3f}, caught {m['failures_caught']}/{m['failures']}"
            lines.append(f"{name + ':':<11} {figures}")
        return lines

    def drift_features(self, card: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return dict((card.get("drift_reference") or {}).get("sensors") or {})

    def drift_samples(self, session: Any, model: str, feature: str, since: datetime, limit: int) -> np.ndarray:
        from factory_ai.forecast.family import FORECAST

        return FORECAST.drift_samples(session, model, feature, since, limit)

    def drift_subject(self, feature: str) -> str:
        return f"sensor {feature}"


def _retrain(kit: Any) -> dict[str, Any]:
    from factory_ai.health.retrain import challenge

    return challenge(kit)


def rows(store: Any, results: list, model_name: str, model_version: str, provider: str) -> list:
    """One :class:`~factory_ai.store.tables.HealthScore` per result, errors included."""
    from factory_ai.history.frame import from_hours
    from factory_ai.store.records import asset_ids
    from factory_ai.store.tables import HealthScore

    ids = asset_ids(store, [r.asset for r in results])
    out = []
    for r in results:
        if r.asset not in ids:  # a name that has just started to repeat: logged by asset_ids
            continue
        data_ts = from_hours(r.time)[0].to_pydatetime() if r.time is not None and r.time_unit == "hour" else None
        out.append(HealthScore(asset_id=ids[r.asset], data_ts=data_ts, model_name=model_name,
                               model_version=model_version, score=r.score, health=r.health, alarm=r.alarm,
                               top_sensors=r.top_sensors or None, provider=provider, error=r.error))
    return out


HEALTH = Health()
