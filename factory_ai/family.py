"""The model-family contract: what every family of models gives the rest of factory-ai.

Why one contract: the daemon, ``factory-ai models``, the console, the reports, the drift check
and the retrain jobs all handle models, and each used to know the families by name. A family
now lives in its own folder (``vision/``, ``forecast/``, ``anomaly/``, ...) with one object,
a :class:`Family`, that answers every question those places ask; they look a model's family
up by its card's ``family`` id in :mod:`factory_ai.families` and never compare ids
themselves. A new family is one folder plus one line in that table.

The torch line runs through every family the same way: this contract and each family's
``family.py`` are line side (onnxruntime, numpy, the store); fitting and export live in the
family's ``train/`` package, reached only through ``factory-ai train <command>``.

What a family states, and why each is here:

- ``id``, ``key``, ``title``, ``train_command``: the card's ``family`` value, a short key
  (report sections, ``[retrain.<key>]``), a name for people, and the ``factory-ai train``
  sub-command that makes such models (retraining runs it).
- ``role``: how its results reach the store. ``"inspect"`` families judge product images
  (one inspection row per image, verdict pass/reject/review); ``"score"`` families score
  assets from their sensor history on an interval (prediction rows per asset).
- ``load``: the line-side model, whose ``predict`` runs in onnxruntime.
- ``score`` ("score" families): one pass over the store's assets with the live model, as the
  rows to store; the daemon's score job runs it on an interval.
- ``models_in_use``: the registry names the plant's config puts to work for this family.
- ``headline``: the few test figures ``models list/show``, the console and the reports show.
- ``labels``: what the review queue accepts as the true class of a part it judged.
- ``describe``: the family's own lines in ``factory-ai models show``.
- ``gate``: whether a version may go into service, read from the card (the train side
  judged it on the version's own test split; see ``vision.gate``).
- ``drift_features`` / ``drift_samples``: the training reference in the card, and the live
  values from the store to compare with it.
- ``retraining``: how a champion is challenged: the scheduler job's name and the routine
  that exports data from the store, trains a challenger with ``train_command`` and decides
  on the figure the family compares (see ``retrain.run``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from sqlmodel import Session

Role = Literal["inspect", "score"]


@dataclass
class Scored:
    """What one scoring pass produced: a result per asset (each with an ``error`` or None) and
    the store rows for them; ``note`` says why there was nothing to score (no data yet)."""

    results: list[Any]
    rows: list[Any]
    note: str | None = None


@dataclass(frozen=True)
class Retraining:
    """How a family's model in service is challenged by a newly trained one."""

    job: str  # the scheduler's job name, e.g. "retrain-vision"
    run: Callable[[Any], dict[str, Any]]  # (a retrain.run.Kit) -> what the job did, for its history
    cron: str = "0 2 * * 0"  # its default schedule (UTC); [scheduler.jobs.<job>] overrides it


def in_holdout(digest: str, percent: float) -> bool:
    """Whether a sample (named by a hex digest of what identifies it) belongs to a family's
    frozen retraining holdout: the same sample always falls on the same side."""
    return int(digest[:8], 16) % 10_000 < percent * 100


class Family:
    """Base of every family: the contract, with the defaults most families share."""

    id: str = ""
    key: str = ""
    title: str = ""
    train_command: str = ""
    role: Role = "inspect"
    scored_word: str = "scored"  # what ``factory-ai predict`` says was done to an asset ("forecast")
    retraining: Retraining | None = None

    def load(self, model_dir: Path, *, device: str = "auto", threads: int = 0, int8: bool = False) -> Any:
        """The line-side model of a version folder (onnxruntime only)."""
        raise NotImplementedError

    def score(self, model: Any, ref: Any, store: Any, *, since: datetime, state: dict[str, Any]) -> Scored:
        """Score every asset from its history since ``since`` ("score" families only); ``state``
        is the caller's memory between passes, for the family to use as it likes."""
        raise NotImplementedError(f"{self.id} models do not score assets")

    def predict_history(self, model: Any, history: Any, assets: list[str] | None, *, every_row: bool = False) -> list:
        """``factory-ai predict`` ("score" families): a result per asset from a sensor history
        (per asset and time step with ``every_row``), each with ``as_json()``, ``text(unit)`` and
        ``error``."""
        raise NotImplementedError(f"{self.id} models do not score sensor histories")

    def store_results(self, store: Any, results: list, ref: Any, provider: str) -> int:
        """Store what :meth:`predict_history` returned, now; returns the rows written."""
        raise NotImplementedError(f"{self.id} models do not score sensor histories")

    def models_in_use(self, settings: Any) -> list[str]:
        """Registry names this plant's config puts to work for this family."""
        return []

    def headline(self, card: dict[str, Any]) -> dict[str, float]:
        """The test figures people compare versions by, named for people, most telling first."""
        return {}

    def figure(self, card: dict[str, Any]) -> str:
        """The one test figure ``models list`` shows: the first headline figure."""
        headline = self.headline(card)
        if not headline:
            return "-"
        name, value = next(iter(headline.items()))
        return f"{name} {value:.4g}"

    def describe(self, card: dict[str, Any]) -> list[str]:
        """The family's own lines in ``factory-ai models show`` (after the common ones)."""
        return []

    def labels(self, card: dict[str, Any]) -> tuple[list[str], list[str], bool]:
        """What a reviewer may call a part this model judged: (classes, good classes, whether a
        new name is accepted, such as a defect type nobody has named yet)."""
        return list(card.get("classes", [])), list(card.get("good_classes", [])), False

    def gate(self, card: dict[str, Any]) -> tuple[bool, str]:
        """(may go into service, why): a card without a gate record (older versions) may."""
        gate = card.get("gate")
        if not isinstance(gate, dict):
            return True, "no gate recorded"
        return bool(gate.get("passed", True)), str(gate.get("sentence", ""))

    def drift_features(self, card: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Feature name -> the training reference's summary (``drift.reference.summarize``)."""
        return {}

    def drift_samples(self, session: Session, model: str, feature: str, since: datetime, limit: int) -> np.ndarray:
        """The live values of ``feature`` for ``model`` since ``since``, newest first."""
        return np.zeros(0)

    def drift_subject(self, feature: str) -> str:
        """How a drift finding names the feature for people."""
        return feature
