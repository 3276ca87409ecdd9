"""Job history: every run recorded with its start, end, status, error and what it did.

Why record in the store and not only in the log: "did the retrain run on Sunday, and why did
it keep the old model?" is asked weeks later, by someone without access to the line PC's
journal, and the alert rule ``job_failed`` reads the same rows.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func
from sqlmodel import select

from factory_ai.store.database import Store
from factory_ai.store.tables import JobRun
from factory_ai.store.types import utcnow

log = logging.getLogger(__name__)


class Skipped(Exception):  # noqa: N818 - it is an outcome, not an error
    """Raised by a job that had nothing to do (no new labels, no model): recorded as skipped."""


def recorded(store: Store, job: str, trigger: str, work: Callable[[], dict[str, Any] | None]) -> JobRun:
    """Run ``work`` and record it. Never raises for the job's own failure: the scheduler must
    keep going, and the failure is in the row (and the log)."""
    with store.session() as session:
        run = JobRun(job=job, trigger=trigger, started_at=utcnow())
        session.add(run)
    status, error, detail = "ok", None, None
    try:
        detail = work()
    except Skipped as exc:
        status, error = "skipped", str(exc)
        log.info("job %s skipped: %s", job, exc)
    except Exception as exc:  # noqa: BLE001 - recorded, logged, and the scheduler carries on
        status, error = "failed", f"{type(exc).__name__}: {exc}"
        log.error("job %s failed: %s\n%s", job, error, traceback.format_exc(limit=6))
    with store.session() as session:
        row = session.get(JobRun, run.id)
        row.finished_at, row.status, row.error, row.detail = utcnow(), status, error, _jsonable(detail)
    log.info("job %s %s in %.1f s", job, status, (row.finished_at - run.started_at).total_seconds())
    return row


def record_missed(store: Store, job: str, when) -> None:  # noqa: ANN001
    """A run the scheduler skipped because it was later than the misfire grace (daemon down)."""
    store.add_all([JobRun(job=job, trigger="schedule", started_at=when, finished_at=utcnow(), status="missed",
                          error="not run: later than the misfire grace time (was the daemon down?)")])


def history(store: Store, job: str | None = None, limit: int = 20) -> list[JobRun]:
    with store.session() as session:
        query = select(JobRun).order_by(JobRun.id.desc()).limit(limit)
        if job:
            query = query.where(JobRun.job == job)
        return list(session.exec(query).all())


def latest(store: Store) -> dict[str, JobRun]:
    with store.session() as session:
        newest = select(func.max(JobRun.id)).group_by(JobRun.job)
        return {r.job: r for r in session.exec(select(JobRun).where(JobRun.id.in_(newest))).all()}


def prune(store: Store, days: float) -> int:
    with store.session() as session:
        result = session.exec(delete(JobRun).where(JobRun.started_at < utcnow() - timedelta(days=days)))
        return result.rowcount or 0


def _jsonable(detail: Any) -> Any:
    if detail is None:
        return None
    return json.loads(json.dumps(detail, default=str))
