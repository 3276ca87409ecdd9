"""The drift job: compare the store's recent data with the current models' training references.

For the forecast model: every sensor the card summarises, against that sensor's readings in
the window. For the vision model: the brightness and contrast of the images it judged, and
its confidence, against the training images and the test split. A shift above the threshold
is a finding (alert rule ``drift``, one per model and feature); once the data is back, the
alert resolves itself. With ``retrain_on_drift``, a drifting model's retrain job runs next.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import numpy as np
from sqlmodel import select

from factory_ai.alerts.rules import Finding
from factory_ai.drift.stats import shift
from factory_ai.errors import FactoryAIError
from factory_ai.registry import read_card
from factory_ai.scheduler.runs import Skipped
from factory_ai.store.tables import Inspection, Reading, Sensor
from factory_ai.store.types import utcnow

log = logging.getLogger(__name__)

RULE = "drift"


def check(ctx) -> dict[str, Any]:  # noqa: ANN001 - a scheduler JobContext
    from factory_ai import alerts

    settings = ctx.settings
    drift = settings.drift
    since = utcnow() - timedelta(hours=drift.window_hours)
    report: dict[str, Any] = {"method": drift.method, "threshold": drift.threshold, "window_hours": drift.window_hours}
    findings: list[Finding] = []
    families = {"forecast": settings.daemon.forecast_model, "vision": settings.inspect.model}
    drifted: list[str] = []
    for family, name in families.items():
        if not name:
            continue
        try:
            ref = ctx.registry.resolve(name)
            card = read_card(ref.path)
        except FactoryAIError as exc:
            report[family] = {"model": name, "skipped": str(exc)}
            continue
        reference = card.get("drift_reference") or {}
        samples = _forecast_samples if family == "forecast" else _vision_samples
        features = reference.get("sensors", {}) if family == "forecast" else reference
        if not features:
            report[family] = {"model": name, "version": ref.version,
                              "skipped": "the card has no drift reference (trained before drift checks; retrain)"}
            continue
        result: dict[str, Any] = {}
        with ctx.store.session() as session:
            for feature, summary in features.items():
                values = samples(session, name, feature, since, drift.max_samples)
                if len(values) < drift.min_samples:
                    result[feature] = {"n": len(values), "judged": False}
                    continue
                value = shift(summary, values, drift.method)
                over = value > drift.threshold
                result[feature] = {"n": len(values), drift.method: round(value, 4), "drifted": bool(over)}
                if over:
                    what = f"sensor {feature}" if family == "forecast" else f"image {feature}"
                    findings.append(Finding(
                        f"{RULE}:{name}:{feature}", RULE, drift.severity,
                        f"{what}: {drift.method.upper()} {value:.2f} against the training reference of {name} "
                        f"{ref.version} (threshold {drift.threshold:g}; {len(values)} values in the last "
                        f"{drift.window_hours:g} h)"))
        report[family] = {"model": name, "version": ref.version, "features": result}
        if any(f.get("drifted") for f in result.values()):
            drifted.append(family)
    if not any("features" in report.get(f, {}) for f in families):
        reasons = "; ".join(f"{f}: {report[f]['skipped']}" for f in families if "skipped" in report.get(f, {}))
        raise Skipped(reasons or "no model to check (set [daemon] forecast_model or [inspect] model)")
    report["alerts"] = alerts.record(ctx.store, settings.alerts, findings, {RULE})
    report["drifted"] = drifted
    if drift.retrain_on_drift and drifted:
        report["retrain"] = _retrain(ctx, drifted)
    return report


def _forecast_samples(session, model: str, sensor: str, since, limit: int) -> np.ndarray:  # noqa: ANN001
    rows = session.exec(select(Reading.value).join(Sensor, Sensor.id == Reading.sensor_id)
                        .where(Sensor.name == sensor, Reading.ts >= since)
                        .order_by(Reading.ts.desc()).limit(limit)).all()
    values = np.asarray(rows, dtype=np.float64)
    return values[np.isfinite(values)]


def _vision_samples(session, model: str, feature: str, since, limit: int) -> np.ndarray:  # noqa: ANN001
    column = getattr(Inspection, feature)
    rows = session.exec(select(column).where(Inspection.model_name == model, Inspection.ts >= since,
                                             column.is_not(None)).order_by(Inspection.ts.desc()).limit(limit)).all()
    return np.asarray(rows, dtype=np.float64)


def _retrain(ctx, families: list[str]) -> dict[str, str]:  # noqa: ANN001
    from factory_ai.scheduler.jobs import JOBS
    from factory_ai.scheduler.runs import recorded

    outcome = {}
    for family in families:
        name = f"retrain-{family}"
        run = recorded(ctx.store, name, "drift", lambda name=name: JOBS[name](ctx))
        outcome[name] = run.status
    return outcome
