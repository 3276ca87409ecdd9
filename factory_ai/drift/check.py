"""The drift job: compare the store's recent data with the models' training references.

Every model in use is checked through its family (``Family.drift_features`` for the reference
in its card, ``Family.drift_samples`` for the live values): the forecast's sensors against
their readings, a classifier's image brightness, contrast and confidence, an anomaly
detector's scores of passed parts. A shift above the threshold is a finding (alert rule
``drift``, one per model and feature); once the data is back, the alert resolves itself. The
report names the retrain jobs of the drifting models' families; whether they run is the
scheduler's decision (``[drift] retrain_on_drift``).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from factory_ai import families
from factory_ai.alerts.rules import Finding
from factory_ai.drift.stats import shift
from factory_ai.errors import FactoryAIError
from factory_ai.registry import read_card
from factory_ai.scheduler.runs import Skipped
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
    drifted: list[str] = []
    jobs: list[str] = []
    checked: list[str] = []
    claimed: set[str] = set()
    for family in families.FAMILIES.values():
        for name in family.models_in_use(settings):
            if name in claimed:
                continue
            try:
                ref = ctx.registry.resolve(name)
                card = read_card(ref.path)
            except FactoryAIError as exc:
                report.setdefault(family.key, {"model": name, "skipped": str(exc)})
                continue
            if card.get("family") not in (None, family.id):  # another family's model on the same config key
                continue
            claimed.add(name)  # a card that names no family (older ones) goes to the first family whose key names it
            key = family.key if family.key not in checked else f"{family.key}:{name}"
            checked.append(key)
            features = family.drift_features(card)
            if not features:
                report[key] = {"model": name, "version": ref.version,
                               "skipped": "the card has no drift reference (trained before drift checks; retrain)"}
                continue
            result: dict[str, Any] = {}
            with ctx.store.session() as session:
                for feature, summary in features.items():
                    values = family.drift_samples(session, name, feature, since, drift.max_samples)
                    if len(values) < drift.min_samples:
                        result[feature] = {"n": len(values), "judged": False}
                        continue
                    value = shift(summary, values, drift.method)
                    over = value > drift.threshold
                    result[feature] = {"n": len(values), drift.method: round(value, 4), "drifted": bool(over)}
                    if over:
                        findings.append(Finding(
                            f"{RULE}:{name}:{feature}", RULE, drift.severity,
                            f"{family.drift_subject(feature)}: {drift.method.upper()} {value:.2f} against the training "
                            f"reference of {name} {ref.version} (threshold {drift.threshold:g}; {len(values)} values "
                            f"in the last {drift.window_hours:g} h)"))
            report[key] = {"model": name, "version": ref.version, "features": result}
            if any(f.get("drifted") for f in result.values()):
                drifted.append(key)
                if family.retraining is not None and family.retraining.job not in jobs:
                    jobs.append(family.retraining.job)
    if not any("features" in v for v in report.values() if isinstance(v, dict)):
        reasons = "; ".join(f"{k}: {v['skipped']}" for k, v in report.items() if isinstance(v, dict) and "skipped" in v)
        raise Skipped(reasons or "no model to check (set [daemon] forecast_model or [inspect] model)")
    report["alerts"] = alerts.record(ctx.store, settings.alerts, findings, {RULE},
                                     publishers=ctx.alert_publishers)
    report["drifted"] = drifted
    report["retrain_jobs"] = jobs
    return report
