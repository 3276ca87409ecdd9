"""The ``[scheduler]`` section: which jobs run when, and how late a job may still run.

Example::

    [scheduler]
    misfire_grace_seconds = 600      # a run missed by less than this (daemon down) still happens

    [scheduler.jobs.retrain-vision]
    cron = "0 2 * * 0"               # Sundays 02:00 UTC

    [scheduler.jobs.alerts]
    interval_seconds = 30

A job is scheduled by ``cron`` (five fields, UTC) or ``interval_seconds``; ``enabled = false``
switches it off. Jobs not named keep their defaults (see ``_default_jobs``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from factory_ai.families import FAMILIES

# The fixed jobs, and one retrain job per family that can be retrained (retrain-vision, ...).
RETRAIN_CRON = {f.retraining.job: f.retraining.cron for f in FAMILIES.values() if f.retraining is not None}
JOB_NAMES = ("score", "alerts", "drift", *RETRAIN_CRON, "report")


class JobSchedule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cron: str | None = Field(default=None, description="Five-field crontab expression, in UTC.")
    interval_seconds: float | None = Field(default=None, gt=0)
    enabled: bool = True

    @model_validator(mode="after")
    def _one_trigger(self) -> JobSchedule:
        if self.cron is not None and self.interval_seconds is not None:
            raise ValueError("give exactly one of cron or interval_seconds")
        if self.cron is not None:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(self.cron)
            except ValueError as exc:
                raise ValueError(f"cron {self.cron!r}: {exc}") from None
        return self


def _default_jobs() -> dict[str, JobSchedule]:
    return {
        "score": JobSchedule(interval_seconds=60),        # follows [daemon] forecast_interval_seconds
        "alerts": JobSchedule(interval_seconds=60),
        "drift": JobSchedule(cron="15 * * * *"),
        **{job: JobSchedule(cron=cron) for job, cron in RETRAIN_CRON.items()},
        "report": JobSchedule(cron="0 6 * * 1"),          # Mondays 06:00 UTC, the week before
    }


class SchedulerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="Run the scheduler inside `factory-ai run`.")
    coalesce: bool = Field(default=True, description="Several missed runs of a job become one.")
    misfire_grace_seconds: float = Field(default=600, gt=0,
                                         description="A run this late (or less) still happens; later ones are "
                                         "recorded as missed.")
    workers: int = Field(default=4, ge=1, le=32, description="Jobs that may run at the same time (each job "
                         "runs one instance at most).")
    keep_runs_days: float = Field(default=90, gt=0, description="Job history older than this is pruned.")
    jobs: dict[str, JobSchedule] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_jobs(self) -> SchedulerSettings:
        unknown = sorted(set(self.jobs) - set(JOB_NAMES))
        if unknown:
            raise ValueError(f"unknown job {', '.join(unknown)} (jobs: {', '.join(JOB_NAMES)})")
        return self

    def schedules(self) -> dict[str, JobSchedule]:
        """Every job with its schedule: the defaults, overridden key by key by the config (a job
        given only ``enabled`` keeps its default trigger)."""
        merged = _default_jobs()
        for name, given in self.jobs.items():
            if given.cron is None and given.interval_seconds is None:
                merged[name] = merged[name].model_copy(update={"enabled": given.enabled})
            else:
                merged[name] = given
        return merged
