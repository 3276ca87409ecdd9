"""What each scheduled job does. A job takes the :class:`JobContext` and returns a small dict
of what it did (kept in the job history), raises :class:`Skipped` when there was nothing to do,
and raises anything else when it failed."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from factory_ai.config import Settings
from factory_ai.families import FAMILIES
from factory_ai.family import Family
from factory_ai.registry import Registry
from factory_ai.scheduler import runs
from factory_ai.scheduler.runs import Skipped
from factory_ai.store.database import Store


@dataclass
class JobContext:
    """What jobs may use. Inside the daemon, ``score`` and ``connectors`` reach its live parts;
    the stand-alone scheduler has no connectors and scores with its own model."""

    settings: Settings
    store: Store
    registry: Registry
    score: Callable[[], list] | None = None
    connectors: Callable[[], Mapping[str, Any]] | None = None
    alert_publishers: Mapping[str, Callable[[dict[str, Any]], None]] = field(default_factory=dict)
    stopping: threading.Event = field(default_factory=threading.Event)


def score(ctx: JobContext) -> dict[str, Any]:
    if ctx.score is None:
        raise Skipped("no forecast model is set ([daemon] forecast_model)")
    results = ctx.score()
    return {"assets": len(results), "errors": sum(1 for r in results if r.error)}


def check_alerts(ctx: JobContext) -> dict[str, Any]:
    from factory_ai import alerts

    pruned = runs.prune(ctx.store, ctx.settings.scheduler.keep_runs_days)
    counts = alerts.check(ctx.store, ctx.settings.alerts, connectors=ctx.connectors() if ctx.connectors else None,
                          publishers=ctx.alert_publishers)
    return {**counts, "job_runs_pruned": pruned} if pruned else counts


def drift(ctx: JobContext) -> dict[str, Any]:
    """The drift check; with ``[drift] retrain_on_drift``, the retrain job of each drifting
    model's family runs next (the scheduler decides what a finding starts, not the check)."""
    from factory_ai.drift.check import check
    from factory_ai.scheduler.runs import recorded

    report = check(ctx)
    if ctx.settings.drift.retrain_on_drift and report.get("retrain_jobs"):
        report["retrain"] = {job: recorded(ctx.store, job, "drift", lambda job=job: JOBS[job](ctx)).status
                             for job in report["retrain_jobs"] if job in JOBS}
    return report


def _retrain(family: Family) -> Callable[[JobContext], dict[str, Any]]:
    def job(ctx: JobContext) -> dict[str, Any]:
        from factory_ai.retrain.run import retrain

        return retrain(ctx, family)

    return job


def report(ctx: JobContext) -> dict[str, Any]:
    from factory_ai.reports.job import scheduled

    return scheduled(ctx.store, ctx.settings)


JOBS: dict[str, Callable[[JobContext], dict[str, Any] | None]] = {
    "score": score,
    "alerts": check_alerts,
    "drift": drift,
    # One retrain job per family that can be retrained (retrain-vision, retrain-forecast, ...).
    **{f.retraining.job: _retrain(f) for f in FAMILIES.values() if f.retraining is not None},
    "report": report,
}
