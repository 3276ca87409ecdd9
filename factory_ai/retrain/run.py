"""The retrain jobs' orchestration: see the package docstring."""


from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import select

from factory_ai.errors import FactoryAIError
from factory_ai.registry import read_card
from factory_ai.retrain import trainer
from factory_ai.scheduler.runs import Skipped
from factory_ai.store.records import record_model_version
from factory_ai.store.tables import JobRun, Review
from factory_ai.store.types import utcnow


def retrain(ctx, family: str) -> dict[str, Any]:  # noqa: ANN001 - a scheduler JobContext
    if family == "vision":
        return _vision(ctx)
    # Not built yet: exporting store histories and events for training, and judging champion
    # and challenger on held-out assets with onnxruntime. Said plainly in the job history.
    raise Skipped("forecast retraining from the store is not built yet; retrain with `factory-ai train forecast` "
                  "and promote with `factory-ai models promote`")


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
           margin: float, relative: bool, parity: tuple[bool, str], holdout: int, min_holdout: int) -> tuple[bool, str]:
    """Promote or not, and why, in words a reliability engineer can check."""
    if holdout < min_holdout:
        return False, f"the frozen holdout has {holdout} samples, fewer than the {min_holdout} needed to judge"
    if not parity[0]:
        return False, parity[1]
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
    try:
        champion = registry.resolve(name)
    except FactoryAIError as exc:
        raise Skipped(f"no champion to challenge: {exc}") from None
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
    if cfg.command:
        command = trainer.fill(cfg.command, data=str(data.train), events="", name=name,
                               models_dir=str(settings.models_dir))
    else:
        command = trainer.local_command("vision", data.train, name, cfg.train_args)
    version = trainer.train(registry, name, command, work / "training.log", stopping=ctx.stopping,
                            timeout_minutes=cfg.timeout_minutes, artifact_wait_minutes=cfg.artifact_wait_minutes,
                            env=child_env(settings))
    challenger = registry.resolve(f"{name}:{version}")
    card = read_card(challenger.path)
    threads = settings.runtime.threads
    scores = {"champion": {"version": champion.version, **vision.score(champion.path, data.holdout, threads)},
              "challenger": {"version": version, **vision.score(challenger.path, data.holdout, threads)}}
    promoted, reason = decide(scores["champion"], scores["challenger"], metric="accuracy",
                              higher_is_better=True, margin=cfg.margin, relative=False,
                              parity=vision.parity_ok(card), holdout=scores["champion"]["n"],
                              min_holdout=cfg.min_holdout)
    _conclude(ctx, name, version, challenger.path, card, promoted, reason)
    return {"model": name, "new_labels": new, "data": data.counts, **scores, "margin": cfg.margin,
            "decision": "promoted" if promoted else "kept champion", "reason": reason, "work_dir": str(work)}


def _conclude(ctx, name: str, version: str, path, card: dict[str, Any], promoted: bool, reason: str) -> None:  # noqa: ANN001
    if promoted:
        ctx.registry.promote(name, version, reason=reason)
        record_model_version(ctx.store, name, version, path, card, current=True)
    else:
        ctx.registry.refuse(name, version, reason)
