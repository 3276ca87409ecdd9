"""The line-side health model: ``load(dir)`` then ``predict(windows)``, onnxruntime only.

A health version holds one or two ONNX members, each a model of normal behaviour fitted on the
plant's normal operation: ``pca`` (principal components with Hotelling's T² and the squared
prediction error, the linear baseline reliability engineers know) and ``autoencoder`` (a small
dense autoencoder over a window of rows, for relations a plane cannot hold). Every member
takes the same windows of regime-normalised sensor values ``[N, W, C]`` and returns:

- ``score`` ``[N]``: its deviation from normal, divided by its median on the training data, so
  a typical normal window scores about 1 whatever the member;
- ``contribution`` ``[N, C]``: how much of that score each sensor explains, which is how an
  alarm names *what* moved (the line side uses their shares).

The card says which members the shipped score averages, the alarm threshold on that score
(set on held-out normal data for a target false-alarm rate) and the persistence rule (``k`` of
the last ``n`` windows above the threshold), so one spike is not an alarm.

The **health index** turns the score into a number people read: 100 at or below a typical
normal window, 50 at the alarm threshold, falling towards 0 beyond it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from factory_ai.errors import ModelError
from factory_ai.forecast.features import Preprocessor
from factory_ai.runtime import Device, OnnxModel, load_model

FAMILY = "health"
PCA, AUTOENCODER = "pca", "autoencoder"
INPUT, SCORE, CONTRIBUTION = "windows", "score", "contribution"
DEGRADING_SHARE = 0.3  # the end of a run that ended in a failure: an alarm there catches the failure


@dataclass
class HealthScores:
    score: np.ndarray  # [N] the shipped score (typical normal about 1)
    contribution: np.ndarray  # [N, C] each sensor's share of it (rows sum to 1)
    health: np.ndarray  # [N] 0..100


def health_index(score: np.ndarray, threshold: float) -> np.ndarray:
    """100 at or below a typical normal score (1), 50 at ``threshold``, halving again with every
    further step of the same size: a figure that reads the same for every machine and model."""
    step = max(float(threshold) - 1.0, 1e-6)
    excess = np.maximum(np.asarray(score, np.float64) - 1.0, 0.0)
    return 100.0 * np.exp2(-excess / step)


def persistent(above: np.ndarray, k: int, n: int) -> np.ndarray:
    """For a run of consecutive windows: whether at least ``k`` of the last ``n`` (this one
    included) were above the threshold."""
    above = np.asarray(above, bool).astype(np.int64)
    if len(above) == 0:
        return np.zeros(0, bool)
    counts = np.convolve(above, np.ones(n, np.int64))[: len(above)]
    return counts >= k


def degrading_rows(run_id: np.ndarray, failed: np.ndarray) -> np.ndarray:
    """The last DEGRADING_SHARE of the rows of every run that ended in a failure (rows sorted by
    asset and time, ``run_id`` and ``failed`` per row as ``forecast.targets.runs`` gives them)."""
    out = np.zeros(len(run_id), bool)
    for run in np.unique(run_id[failed]):
        rows = np.flatnonzero(run_id == run)
        out[rows[int(len(rows) * (1 - DEGRADING_SHARE)):]] = True
    return out


def ok_in_a_row(run_id: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: how many ``ok`` rows of its run end at it without a break, and where its run
    starts. A row ends a usable window of ``w`` rows where ``ok & (count >= w)``."""
    index = np.arange(len(run_id))
    first = np.r_[True, run_id[1:] != run_id[:-1]] if len(run_id) else np.zeros(0, bool)
    run_start = np.maximum.accumulate(np.where(first, index, 0)) if len(run_id) else index
    last_bad = np.maximum.accumulate(np.where(ok, -1, index)) if len(run_id) else index
    count = np.where(ok, np.where(last_bad >= run_start, index - last_bad, index - run_start + 1), 0)
    return count, run_start


def combine(card: dict[str, Any], outputs: dict[str, dict[str, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The shipped score and per-sensor shares from the members' outputs (also used at training)."""
    used = card["combine"]
    score = np.mean([outputs[m][SCORE].astype(np.float64) for m in used], axis=0)
    part = np.mean([outputs[m][CONTRIBUTION].astype(np.float64) for m in used], axis=0)
    part = np.maximum(part, 0.0)
    total = part.sum(axis=1, keepdims=True)
    share = np.divide(part, total, out=np.full_like(part, 1.0 / max(part.shape[1], 1)), where=total > 0)
    return score, share


class HealthModel:
    def __init__(self, card: dict[str, Any], members: dict[str, OnnxModel]) -> None:
        if card.get("family") != FAMILY:
            raise ModelError(f"a {card.get('family')!r} model, not a health model")
        self.card = card
        self.members = members
        self.preprocessor = Preprocessor.from_dict(card["preprocessing"])
        self.threshold = float(card["alarm"]["threshold"])
        self.k = int(card["alarm"]["k"])
        self.n = int(card["alarm"]["n"])

    @classmethod
    def load(cls, model_dir: Path, *, device: Device = "auto", threads: int = 0) -> HealthModel:
        from factory_ai.registry import read_card

        card = read_card(model_dir)
        if card.get("family") != FAMILY:
            raise ModelError(f"{model_dir}: a {card.get('family')!r} model, not a health model")
        members = {name: load_model(model_dir, spec["artifact"], device=device, threads=threads)
                   for name, spec in card["members"].items() if name in card["combine"]}
        return cls(card, members)

    @property
    def provider(self) -> str:
        return next(iter(self.members.values())).provider

    @property
    def sensors(self) -> list[str]:
        return list(self.preprocessor.sensors)

    def raw(self, windows: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
        x = np.ascontiguousarray(windows, dtype=np.float32)
        return {name: member.run({INPUT: x}) for name, member in self.members.items()}

    def predict(self, windows: np.ndarray) -> HealthScores:
        """Scores, sensor shares and health index for windows ``[N, W, C]`` of normalised rows."""
        p = self.preprocessor
        if windows.ndim != 3 or windows.shape[1:] != (p.window, len(p.channels)):
            raise ValueError(f"expected windows [N, {p.window}, {len(p.channels)}], got {list(windows.shape)}")
        if len(windows) == 0:
            empty = np.zeros(0)
            return HealthScores(empty, np.zeros((0, len(p.channels))), empty)
        score, share = combine(self.card, self.raw(windows))
        return HealthScores(score=score, contribution=share, health=health_index(score, self.threshold))
