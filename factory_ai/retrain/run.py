"""The retrain jobs' orchestration: see the package docstring.

Each family's own routine (``Family.retraining.run``: what data it exports from the store, how
it judges champion and challenger) lives in the family's folder and receives a :class:`Kit`:
the mechanics every family shares, handed down so that families never import this layer.
"""


from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlmodel import select

from factory_ai.errors import FactoryAIError
from factory_ai.family import Family
from factory_ai.registry import gate_passed, read_card
from factory_ai.retrain import trainer
from factory_ai.scheduler.runs import Skipped
from factory_ai.store.records import record_model_version
from factory_ai.store.tables import JobRun


def retrain(ctx, family: Family) -> dict[str, Any]:  # noqa: ANN001 - a scheduler JobContext
    if family.retraining is None:
        raise Skipped(f"{family.title} models are not retrained by the scheduler")
    return family.retraining.run(Kit(ctx, family))


@dataclass
class Kit:
    """What a family's retrain routine may use: the job's context and the shared mechanics."""

    ctx: Any  # the scheduler's JobContext
    family: Family
    Skipped = Skipped  # raise kit.Skipped("why") when there is nothing to do

    @property
    def settings(self) -> Any:
        return self.ctx.settings

    @property
    def store(self) -> Any:
        return self.ctx.store

    @property
    def registry(self) -> Any:
        return self.ctx.registry

    @property
    def config(self) -> Any:
        """This family's ``[retrain.<key>]`` section."""
        return getattr(self.settings.retrain, self.family.key)

    @property
    def job(self) -> str:
        return self.family.retraining.job

    def model_name(self) -> str:
        """The model in service that the challenger takes on: the first of this family's models
        in use; skipped when the plant uses none."""
        from factory_ai import families

        names = [name for family, name in families.in_use(self.settings, self.registry) if family is self.family]
        if not names:
            raise Skipped(f"no {self.family.title} in service to challenge (none of the configured models "
                          f"{self.family.models_in_use(self.settings) or '[]'} is one)")
        return names[0]

    def champion(self, name: str):  # noqa: ANN201
        try:
            return self.registry.resolve(name)
        except FactoryAIError as exc:
            raise Skipped(f"no champion to challenge: {exc}") from None

    def last_success(self) -> datetime | None:
        return last_success(self.store, self.job)

    def work_dir(self) -> Path:
        from factory_ai.store.types import utcnow

        return self.settings.resolve(self.settings.retrain.work_dir) / f"{self.family.key}-{utcnow():%Y%m%dT%H%M%S}"

    def challenger(self, name: str, work: Path, data: Path, events: Path | None, train_args: list[str]):  # noqa: ANN201
        """Train a challenger (the configured command, else ``factory-ai train`` here); return its
        version, registry entry and card."""
        cfg, settings = self.config, self.settings
        if cfg.command:
            command = trainer.fill(cfg.command, data=str(data), events=str(events or ""), name=name,
                                   models_dir=str(settings.models_dir))
        else:
            command = trainer.local_command(self.family.train_command, data, name, train_args, events=events)
        version = trainer.train(self.registry, name, command, work / "training.log", stopping=self.ctx.stopping,
                                timeout_minutes=cfg.timeout_minutes, artifact_wait_minutes=cfg.artifact_wait_minutes,
                                env=child_env(settings))
        challenger = self.registry.resolve(f"{name}:{version}")
        return version, challenger, read_card(challenger.path)

    def decide(self, champion: dict[str, Any], challenger: dict[str, Any], card: dict[str, Any], **rules: Any) -> tuple[bool, str]:
        """:func:`decide` with the challenger's own gate read from its card."""
        return decide(champion, challenger, gate=(gate_passed(card), (card.get("gate") or {}).get("sentence", "")),
                      **rules)

    def conclude(self, name: str, version: str, path: Path, card: dict[str, Any], promoted: bool, reason: str) -> None:
        if promoted:
            self.registry.promote(name, version, reason=reason)  # a challenger that failed its gate never gets here
            record_model_version(self.store, name, version, path, card, current=True)
        else:
            self.registry.refuse(name, version, reason)


def last_success(store, job: str) -> datetime | None:  # noqa: ANN001
    """When the last retrain that ran to a decision started: data newer than this is new."""
    with store.session() as session:
        return session.exec(select(func.max(JobRun.started_at)).where(JobRun.job == job,
                                                                      JobRun.status == "ok")).one()


def child_env(settings) -> dict[str, str]:  # noqa: ANN001
    """The child trains into this registry and records its version in this store."""
    environ = dict(os.environ)
    # A daemon that started itself again on the C library's malloc (daemon/memory.py) marks it
    # so: that suits a long-lived server, not a torch training run, which gets Python's own
    # allocator back. An operator's own PYTHONMALLOC (no mark) is passed on.
    if environ.pop("FACTORYAI_SET_PYTHONMALLOC", None) == "1":
        environ.pop("PYTHONMALLOC", None)
    return {**environ, "FACTORY_AI_MODELS__DIR": str(settings.models_dir), "FACTORY_AI_STORE__URL": settings.database_url}


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
