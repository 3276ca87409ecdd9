"""``factory-ai jobs`` and ``factory-ai scheduler``: see, run and schedule the plant's jobs."""

from __future__ import annotations

import json
import signal
import threading

import typer

app = typer.Typer(rich_markup_mode=None, no_args_is_help=True,
                  help="The scheduled jobs: score, alerts, drift, retrain-vision, retrain-forecast.")


def _when(ts) -> str:  # noqa: ANN001
    return "-" if ts is None else f"{ts:%Y-%m-%d %H:%M:%S}Z"


@app.command("list")
def list_jobs(ctx: typer.Context) -> None:
    """Each job: its schedule, next run (as stored by the running scheduler) and last outcome."""
    from datetime import UTC, datetime

    from sqlalchemy import inspect, text

    from factory_ai.scheduler import runs
    from factory_ai.scheduler.service import TABLE

    settings = ctx.obj.settings
    store = ctx.obj.store()
    next_runs: dict[str, float | None] = {}
    with store.engine.connect() as conn:
        if inspect(conn).has_table(TABLE):
            next_runs = dict(conn.execute(text(f"SELECT id, next_run_time FROM {TABLE}")).all())
    last = runs.latest(store)
    typer.echo(f"{'job':<18} {'schedule':<26} {'next run':<21} last run")
    for name, schedule in settings.scheduler.schedules().items():
        when = "off" if not schedule.enabled else (f"cron {schedule.cron}" if schedule.cron else
                                                   f"every {schedule.interval_seconds:g} s")
        stamp = next_runs.get(name)
        upcoming = _when(datetime.fromtimestamp(stamp, UTC)) if stamp else "-"
        run = last.get(name)
        outcome = "never" if run is None else f"{run.status} at {_when(run.started_at)}" + (
            f": {run.error.splitlines()[0]}" if run.error else "")
        typer.echo(f"{name:<18} {when:<26} {upcoming:<21} {outcome}")
    store.close()


@app.command("history")
def history(ctx: typer.Context, job: str | None = typer.Argument(None, help="Only this job."),
            limit: int = typer.Option(20, "--limit", "-n", min=1),
            as_json: bool = typer.Option(False, "--json", help="One JSON object per line, with the details.")) -> None:
    """Recent runs, newest first: job, trigger, start, seconds, status, and the error or details."""
    from factory_ai.scheduler import runs

    store = ctx.obj.store()
    for run in runs.history(store, job, limit):
        seconds = (run.finished_at - run.started_at).total_seconds() if run.finished_at else None
        if as_json:
            typer.echo(json.dumps({"id": run.id, "job": run.job, "trigger": run.trigger,
                                   "started_at": run.started_at.isoformat(), "seconds": seconds,
                                   "status": run.status, "error": run.error, "detail": run.detail}))
            continue
        took = "-" if seconds is None else f"{seconds:.1f} s"
        note = run.error.splitlines()[0] if run.error else json.dumps(run.detail or {})[:120]
        typer.echo(f"{run.id:>5} {run.job:<18} {run.trigger:<9} {_when(run.started_at)} {took:>9} "
                   f"{run.status:<8} {note}")
    store.close()


@app.command("run", no_args_is_help=True)
def run_job(ctx: typer.Context, name: str = typer.Argument(..., help="The job to run now.")) -> None:
    """Run one job now, in this process, and record it (trigger: manual). Exit 1 if it failed."""
    from factory_ai.scheduler.context import standalone
    from factory_ai.scheduler.jobs import JOBS
    from factory_ai.scheduler.service import Scheduler

    if name not in JOBS:
        raise typer.BadParameter(f"no job {name!r}; jobs: {', '.join(JOBS)}", param_hint="NAME")
    with standalone(ctx.obj.settings) as job_ctx:
        run = Scheduler(job_ctx).run(name)
    typer.echo(f"{name}: {run.status}" + (f": {run.error}" if run.error else ""))
    for key, value in (run.detail or {}).items():
        typer.echo(f"  {key}: {json.dumps(value) if isinstance(value, dict | list) else value}")
    if run.status == "failed":
        raise typer.Exit(1)


def scheduler(
    ctx: typer.Context,
    duration: float | None = typer.Option(None, "--duration", min=0.1, help="Stop after this many seconds."),
) -> None:
    """Run the scheduler alone (no connectors, no API): for a central server that retrains,
    checks drift and sends alerts for lines whose daemons run with [scheduler] enabled = false.
    Stops on SIGTERM or Ctrl-C."""
    from factory_ai.scheduler.context import standalone
    from factory_ai.scheduler.service import Scheduler

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with standalone(ctx.obj.settings) as job_ctx:
        service = Scheduler(job_ctx, first_run_delay=5.0)
        service.start()
        for job in service.jobs():
            typer.echo(f"scheduled {job['name']}: {job['trigger']}, next {_when(job['next_run'])}")
        stop.wait(duration)
        service.stop(wait=False)
    typer.echo("scheduler stopped")
