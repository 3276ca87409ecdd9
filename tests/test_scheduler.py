"""The scheduler: job history, failures that do not stop it, persistence and misfires."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from factory_ai.cli import app
from factory_ai.config import load_settings
from factory_ai.registry import Registry
from factory_ai.scheduler import jobs, runs
from factory_ai.scheduler.config import JOB_NAMES
from factory_ai.scheduler.jobs import JobContext
from factory_ai.scheduler.runs import Skipped
from factory_ai.scheduler.service import Scheduler
from factory_ai.store import Store
from tests.servers import wait_until


def make_settings(tmp_path: Path, **scheduler):  # noqa: ANN003, ANN201
    env = {"FACTORY_AI_STORE__URL": f"sqlite:///{tmp_path / 'factory.db'}"}
    settings = load_settings(environ=env)
    settings.scheduler = settings.scheduler.model_validate(scheduler)
    return settings


def context(settings) -> JobContext:  # noqa: ANN001
    return JobContext(settings=settings, store=Store(settings.database_url), registry=Registry(settings.models_dir))


# Every job off except alerts (and those a test turns on).
ONLY = {name: {"enabled": False} for name in JOB_NAMES if name != "alerts"}


def test_a_failing_job_is_recorded_and_the_others_keep_running(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    calls = {"alerts": 0, "drift": 0}

    def boom(ctx: JobContext) -> dict:
        calls["alerts"] += 1
        raise RuntimeError("the rules table is on fire")

    def fine(ctx: JobContext) -> dict:
        calls["drift"] += 1
        return {"checked": calls["drift"]}

    monkeypatch.setitem(jobs.JOBS, "alerts", boom)
    monkeypatch.setitem(jobs.JOBS, "drift", fine)
    settings = make_settings(tmp_path, jobs={**ONLY, "alerts": {"interval_seconds": 0.3},
                                             "drift": {"interval_seconds": 0.3}})
    ctx = context(settings)
    service = Scheduler(ctx, first_run_delay=0.1)
    service.start()
    try:
        assert wait_until(lambda: calls["alerts"] >= 3 and calls["drift"] >= 3, timeout=15)
    finally:
        service.stop(wait=True)
    history = runs.history(ctx.store, limit=100)
    failed = [r for r in history if r.job == "alerts"]
    assert failed and all(r.status == "failed" and "on fire" in r.error for r in failed)
    ok = [r for r in history if r.job == "drift" and r.status == "ok"]
    assert len(ok) >= 3 and ok[0].detail["checked"] >= 3 and ok[0].finished_at >= ok[0].started_at
    ctx.store.close()


def test_skipped_and_manual_runs(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    ctx = context(settings)
    run = Scheduler(ctx).run("score")  # no forecast model configured
    assert run.status == "skipped" and "forecast_model" in run.error and run.trigger == "manual"
    ctx.store.close()
    assert isinstance(Skipped("x"), Exception)


def test_jobs_survive_a_restart_and_a_late_run_is_caught_up_or_recorded_missed(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    ran: list[datetime] = []
    monkeypatch.setitem(jobs.JOBS, "drift", lambda ctx: ran.append(datetime.now(UTC)) or {})
    settings = make_settings(tmp_path, misfire_grace_seconds=2, jobs={**ONLY, "alerts": {"enabled": False},
                                                                      "drift": {"cron": "0 4 * * *"}})
    first = Scheduler(context(settings))
    first.start()
    [stored] = first.jobs()
    assert stored["name"] == "drift" and stored["next_run"].hour == 4
    # The job falls due one second from now, and the daemon goes down before that.
    first._apscheduler.modify_job("drift", next_run_time=datetime.now(UTC) + timedelta(seconds=1))
    first.stop()
    time.sleep(1.5)
    assert ran == []
    # Back 0.5 s late, within the 2 s grace: the stored job runs at once, once.
    second = Scheduler(context(settings))
    second.start()
    assert wait_until(lambda: len(ran) == 1, timeout=10)
    time.sleep(0.5)
    assert len(ran) == 1 and second.jobs()[0]["next_run"].hour == 4  # and then back on its cron
    second._apscheduler.modify_job("drift", next_run_time=datetime.now(UTC) + timedelta(seconds=0.5))
    second.stop()
    time.sleep(3.5)
    # Back 3 s late, beyond the grace: not run, but recorded as missed.
    third = Scheduler(context(settings))
    store = third.ctx.store
    third.start()
    try:
        assert wait_until(lambda: any(r.status == "missed" for r in runs.history(store)), timeout=10)
    finally:
        third.stop()
    assert len(ran) == 1
    statuses = [(r.job, r.trigger, r.status) for r in runs.history(store)]
    assert statuses == [("drift", "schedule", "missed"), ("drift", "schedule", "ok")]


def test_changing_the_schedule_in_the_config_replaces_the_stored_job(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, jobs={**ONLY, "alerts": {"interval_seconds": 3600}})
    service = Scheduler(context(settings))
    service.start()
    service.stop()
    settings = make_settings(tmp_path, jobs={**ONLY, "alerts": {"cron": "*/5 * * * *"}, "drift": {"enabled": False}})
    service = Scheduler(context(settings))
    service.start()
    try:
        [job] = service.jobs()
        assert job["name"] == "alerts" and job["trigger"].startswith("cron")
    finally:
        service.stop()


def test_config_refuses_unknown_jobs_and_bad_cron(tmp_path: Path) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="unknown job retrain-everything"):
        make_settings(tmp_path, jobs={"retrain-everything": {"interval_seconds": 5}})
    with pytest.raises(ValidationError, match="cron"):
        make_settings(tmp_path, jobs={"drift": {"cron": "every sunday"}})
    with pytest.raises(ValidationError, match="exactly one"):
        make_settings(tmp_path, jobs={"drift": {"cron": "0 * * * *", "interval_seconds": 5}})


def test_jobs_cli_runs_lists_and_shows_history(plant: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["jobs", "run", "alerts"])
    assert result.exit_code == 0, result.output
    assert "alerts: ok" in result.output and "findings: 0" in result.output
    result = runner.invoke(app, ["jobs", "run", "score"])
    assert result.exit_code == 0 and "score: skipped" in result.output
    listing = runner.invoke(app, ["jobs", "list"]).output
    assert "alerts" in listing and "every 60 s" in listing and "ok at" in listing
    assert "retrain-vision" in listing and "cron 0 2 * * 0" in listing
    history = runner.invoke(app, ["jobs", "history"]).output.splitlines()
    assert len(history) == 2 and "score" in history[0] and "skipped" in history[0] and "manual" in history[1]
    assert runner.invoke(app, ["jobs", "run", "nope"]).exit_code == 2
