"""The retrain jobs' orchestration: see the package docstring."""


from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlmodel import select

from factory_ai.errors import DataError, FactoryAIError
from factory_ai.registry import gate_passed, read_card
from factory_ai.retrain import trainer
from factory_ai.scheduler.runs import Skipped
from factory_ai.store.records import record_model_version
from factory_ai.store.tables import Event, JobRun, Review
from factory_ai.store.types import utcnow


def retrain(ctx, family: str) -> dict[str, Any]:  # noqa: ANN001 - a scheduler JobContext
    return _vision(ctx) if family == "vision" else _forecast(ctx)


def last_success(store, job: str) -> datetime | None:  # noqa: ANN001
    """When the last retrain that ran to a decision started: data newer than this is new."""
    with store.session() as session:
        return session.exec(select(func.max(JobRun.started_at)).where(JobRun.job == job,
                                                                      JobRun.status == "ok")).one()


def child_env(settings) -> dict[str, str]:  # noqa: ANN001
    """The child trains into this registry and records its version in this store."""
    return {**os.environ, "FACTORY_AI_MODELS__DIR": str(settings.models_dir),
            "FACTORY_AI_STORE__URL": settings.database_url}


def decide(champion: dict[str, Any], challenger: dict[str, Any], *, metric: str, higher_is_better: bool,
           margin: float, relative: bool, parity: tuple[bool, str], holdout: int, min_holdout: int,
           gate: tuple[bool, str] = (True, "")) -> tuple[bool, str]:
    """Promote or not, and why, in words a reliability engineer can check. A challenger that
    failed its own gate before service (see ``vision.gate``) never wins, whatever the holdout says."""
    if holdout < min_holdout:
        return False, f"the frozen holdout has {holdout} samples, fewer than the {min_holdout} needed to judge"
    if not parity[0]:
        return False, parity[1]
    if not gate[0]:
        return False, f"the challenger failed its gate before service: {gate[1]}"
    old, new = champion[metric], challenger[metric]
    gain = (new - old) if higher_is_better else (old - new)
    needed = margin * abs(old) if relative else margin
    shown = f"{metric} {new:.4g} against {old:.4g} on {holdout} holdout samples"
    if gain > 0 and gain >= needed:
        return True, f"challenger wins: {shown} (needed a gain of {needed:.4g}); {parity[1]}"
    return False, f"champion kept: {shown}; the challenger must " + (
        f"gain at least {needed:.4g}" if needed > 0 else "do better")


def _vision(ctx) -> dict[str, Any]:  # noqa: ANN001
    from factory_ai import review
    from factory_ai.retrain import vision

    settings, store, registry = ctx.settings, ctx.store, ctx.registry
    cfg = settings.retrain.vision
    name = settings.inspect.model
    champion = _champion(registry, name)
    since = last_success(store, "retrain-vision")
    with store.session() as session:
        labelled = review.labelled(session, model_name=name)
        new = session.exec(select(func.count()).select_from(Review).where(
            Review.label.is_not(None), *([Review.labelled_at > since] if since else []))).one()
    if new < cfg.min_new_labels:
        raise Skipped(f"{new} new labels since {'the last retrain' if since else 'the start'}; "
                      f"{cfg.min_new_labels} needed ([retrain.vision] min_new_labels)")
    work = settings.resolve(settings.retrain.work_dir) / f"vision-{utcnow():%Y%m%dT%H%M%S}"
    data = vision.export(labelled, settings.resolve(cfg.base_data) if cfg.base_data else None, work,
                         cfg.holdout_percent)
    version, challenger, card = _challenger(ctx, "vision", cfg, name, work, data.train, None, cfg.train_args)
    threads = settings.runtime.threads
    scores = {"champion": {"version": champion.version, **vision.score(champion.path, data.holdout, threads)},
              "challenger": {"version": version, **vision.score(challenger.path, data.holdout, threads)}}
    promoted, reason = decide(scores["champion"], scores["challenger"], metric="accuracy",
                              higher_is_better=True, margin=cfg.margin, relative=False,
                              parity=vision.parity_ok(card), holdout=scores["champion"]["n"],
                              min_holdout=cfg.min_holdout,
                              gate=(gate_passed(card), (card.get("gate") or {}).get("sentence", "")))
    _conclude(ctx, name, version, challenger.path, card, promoted, reason)
    return {"model": name, "new_labels": new, "data": data.counts, **scores, "margin": cfg.margin,
            "decision": "promoted" if promoted else "kept champion", "reason": reason, "work_dir": str(work)}


def _forecast(ctx) -> dict[str, Any]:  # noqa: ANN001
    from factory_ai.forecast.readers import read_store
    from factory_ai.retrain import forecast

    settings, store, registry = ctx.settings, ctx.store, ctx.registry
    cfg = settings.retrain.forecast
    name = settings.daemon.forecast_model
    if not name:
        raise Skipped("no forecast model to challenge: set [daemon] forecast_model")
    champion = _champion(registry, name)
    champion_card = read_card(champion.path)
    if champion_card.get("task") != "rul" or champion_card.get("time_unit") != "hour":
        raise Skipped(f"{name} {champion.version} is not an RUL model on timestamped data; the store holds "
                      "timestamped runs, so retrain it by hand with `factory-ai train forecast`")
    since = last_success(store, "retrain-forecast")
    with store.session() as session:
        new = session.exec(select(func.count()).select_from(Event).where(
            *([Event.created_at > since] if since else []))).one()
    if new < cfg.min_new_events:
        raise Skipped(f"{new} new failure/maintenance events since {'the last retrain' if since else 'the start'}; "
                      f"{cfg.min_new_events} needed ([retrain.forecast] min_new_events; record them with "
                      "`factory-ai events`)")
    try:
        history, _ = read_store(store, events=True)
    except DataError as exc:
        raise Skipped(str(exc)) from None
    work = settings.resolve(settings.retrain.work_dir) / f"forecast-{utcnow():%Y%m%dT%H%M%S}"
    data = forecast.export(history, work, cfg.holdout_percent)
    if data.counts["holdout_runs"] < cfg.min_holdout_runs:  # no challenger could be judged: do not train one
        raise Skipped(f"the frozen holdout has {data.counts['holdout_runs']} failure runs "
                      f"(of {data.counts['failures']} failures recorded), {cfg.min_holdout_runs} needed to judge "
                      "([retrain.forecast] min_holdout_runs, holdout_percent)")
    version, challenger, card = _challenger(ctx, "forecast", cfg, name, work, data.data, data.events,
                                            forecast.train_args(champion_card, cfg.train_args))
    min_rows = max(champion_card["preprocessing"]["min_history"], card["preprocessing"]["min_history"])
    cuts, remaining = forecast.cuts(data.holdout, min_rows=min_rows, per_run=cfg.cuts_per_run)
    judge = dict(cap=float(champion_card["rul_cap"]), horizon=float(champion_card["horizon"]),
                 threads=settings.runtime.threads)
    scores = {"champion": {"version": champion.version, **forecast.score(champion.path, cuts, remaining, **judge)},
              "challenger": {"version": version, **forecast.score(challenger.path, cuts, remaining, **judge)}}
    parity = forecast.parity_ok(card)
    if scores["challenger"]["n"] < scores["champion"]["n"]:
        parity = (False, f"the challenger forecast only {scores['challenger']['n']} of the "
                  f"{scores['champion']['n']} holdout cuts the champion forecast")
    promoted, reason = decide(scores["champion"], scores["challenger"], metric="rmse", higher_is_better=False,
                              margin=cfg.margin, relative=True, parity=parity,
                              holdout=min(scores["champion"]["n"], scores["challenger"]["n"]),
                              min_holdout=cfg.min_holdout)
    _conclude(ctx, name, version, challenger.path, card, promoted, reason)
    return {"model": name, "new_events": new, "data": data.counts, **scores, "margin": cfg.margin,
            "decision": "promoted" if promoted else "kept champion", "reason": reason, "work_dir": str(work)}


def _champion(registry, name: str):  # noqa: ANN001, ANN202
    try:
        return registry.resolve(name)
    except FactoryAIError as exc:
        raise Skipped(f"no champion to challenge: {exc}") from None


def _challenger(ctx, family: str, cfg, name: str, work: Path, data: Path, events: Path | None,  # noqa: ANN001
                train_args: list[str]):  # noqa: ANN202
    """Train a challenger (the configured command, else ``factory-ai train`` here); return its
    version, registry entry and card."""
    settings = ctx.settings
    if cfg.command:
        command = trainer.fill(cfg.command, data=str(data), events=str(events or ""), name=name,
                               models_dir=str(settings.models_dir))
    else:
        command = trainer.local_command(family, data, name, train_args, events=events)
    version = trainer.train(ctx.registry, name, command, work / "training.log", stopping=ctx.stopping,
                            timeout_minutes=cfg.timeout_minutes, artifact_wait_minutes=cfg.artifact_wait_minutes,
                            env=child_env(settings))
    challenger = ctx.registry.resolve(f"{name}:{version}")
    return version, challenger, read_card(challenger.path)


def _conclude(ctx, name: str, version: str, path, card: dict[str, Any], promoted: bool, reason: str) -> None:  # noqa: ANN001
    if promoted:
        ctx.registry.promote(name, version, reason=reason)  # a challenger that failed its gate never gets here
        record_model_version(ctx.store, name, version, path, card, current=True)
    else:
        ctx.registry.refuse(name, version, reason)
