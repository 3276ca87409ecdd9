"""The scheduler: APScheduler 3 with its jobs kept in the plant database.

Why the jobs live in the database (SQLAlchemyJobStore, table ``scheduler_jobs``): each job's
next run time survives a restart. A job that fell due while the daemon was down runs once when
it comes back, if it is no later than ``misfire_grace_seconds`` (several missed runs coalesce
into one); a later one is recorded as ``missed``, so a gap in the history is visible.

What the store keeps is the schedule and a reference to :func:`run_scheduled`, never a pickled
object of ours: jobs are looked up by name at run time, so upgrading factory-ai cannot break
the stored jobs. Each job runs at most one instance at a time.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from factory_ai.errors import ConfigError
from factory_ai.scheduler import runs
from factory_ai.scheduler.config import JobSchedule
from factory_ai.scheduler.jobs import JOBS, JobContext

log = logging.getLogger(__name__)

TABLE = "scheduler_jobs"
_ACTIVE: Scheduler | None = None  # the scheduler of this process, for run_scheduled


def run_scheduled(name: str) -> None:
    """The callable APScheduler stores for every job: run ``name`` in the active scheduler."""
    if _ACTIVE is None:
        log.error("job %s fired with no scheduler running", name)
        return
    _ACTIVE.run(name, trigger="schedule")


class Scheduler:
    def __init__(self, ctx: JobContext, *, first_run_delay: float | None = None) -> None:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
        from apscheduler.schedulers.background import BackgroundScheduler

        self.ctx = ctx
        self.config = ctx.settings.scheduler
        self.first_run_delay = first_run_delay
        self._apscheduler = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=ctx.store.engine, tablename=TABLE)},
            executors={"default": ThreadPoolExecutor(self.config.workers)},
            job_defaults={"coalesce": self.config.coalesce, "max_instances": 1,
                          "misfire_grace_time": int(self.config.misfire_grace_seconds)},
            timezone=UTC,
        )

    # -- life cycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Bring the stored jobs in line with the config, then start running them."""
        global _ACTIVE
        from apscheduler.events import EVENT_JOB_MISSED

        _ACTIVE = self
        self._apscheduler.add_listener(self._missed, EVENT_JOB_MISSED)
        self._apscheduler.start(paused=True)
        self._sync()
        self._apscheduler.resume()
        log.info("scheduler started: %s", ", ".join(f"{j.id} ({j.trigger})" for j in self._apscheduler.get_jobs()))

    def stop(self, wait: bool = False) -> None:
        global _ACTIVE
        self.ctx.stopping.set()
        if self._apscheduler.running:
            self._apscheduler.shutdown(wait=wait)
        if _ACTIVE is self:
            _ACTIVE = None

    # -- jobs ------------------------------------------------------------------------------------
    def run(self, name: str, trigger: str = "manual"):  # noqa: ANN201 - a JobRun
        """Run one job now, in this thread, and record it."""
        if name not in JOBS:
            raise ConfigError(f"no job {name!r} (jobs: {', '.join(JOBS)})")
        return runs.recorded(self.ctx.store, name, trigger, lambda: JOBS[name](self.ctx))

    def jobs(self) -> list[dict[str, Any]]:
        """Each scheduled job with its trigger and next run time (UTC)."""
        return [{"name": j.id, "trigger": str(j.trigger), "next_run": j.next_run_time}
                for j in self._apscheduler.get_jobs()]

    def _sync(self) -> None:
        wanted = {name: s for name, s in self.config.schedules().items() if s.enabled}
        if "score" in wanted and wanted["score"].interval_seconds is not None:
            wanted["score"] = JobSchedule(interval_seconds=self.ctx.settings.daemon.forecast_interval_seconds)
        for job in self._apscheduler.get_jobs():
            if job.id not in wanted:
                log.info("job %s is no longer configured: removed from the schedule", job.id)
                job.remove()
        now = datetime.now(UTC)
        for name, schedule in wanted.items():
            trigger = _trigger(schedule)
            stored = self._apscheduler.get_job(name)
            if stored is not None and str(stored.trigger) == str(trigger):
                continue  # keep its stored next run time: that is what makes missed runs visible
            first = None
            if self.first_run_delay is not None and schedule.interval_seconds is not None:
                first = now + timedelta(seconds=min(self.first_run_delay, schedule.interval_seconds))
            self._apscheduler.add_job(f"{__name__}:run_scheduled", trigger=trigger, args=[name], id=name, name=name,
                                      replace_existing=True, **({"next_run_time": first} if first else {}))

    def _missed(self, event) -> None:  # noqa: ANN001
        log.warning("job %s missed its run at %s (later than the misfire grace)", event.job_id,
                    event.scheduled_run_time)
        try:
            runs.record_missed(self.ctx.store, event.job_id, event.scheduled_run_time)
        except Exception as exc:  # noqa: BLE001 - the database may be why; the log has it
            log.error("could not record the missed run of %s: %s", event.job_id, exc)


def _trigger(schedule: JobSchedule):  # noqa: ANN202
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    if schedule.cron is not None:
        return CronTrigger.from_crontab(schedule.cron, timezone=UTC)
    return IntervalTrigger(seconds=schedule.interval_seconds, timezone=UTC)
