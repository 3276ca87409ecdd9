"""Scoring histories with a health model: every asset's latest window, or every time step.

Why a result per asset and time, errors included: a broken sensor (NaN), an operating regime
the model never saw, a missing column or too short a history costs that asset (or that time
step) its score, with a reason a person can act on; the other assets are still scored.

Alarms follow the card's persistence rule: a window alarms when at least ``k`` of the last
``n`` windows of the same run were above the threshold. A window that cannot be scored counts
as not above it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from factory_ai.forecast.features import Preprocessor
from factory_ai.forecast.targets import runs
from factory_ai.health.model import HealthModel, ok_in_a_row
from factory_ai.history.frame import ASSET, TIME, History, from_hours

TOP = 3  # sensors named per result


@dataclass
class AssetHealth:
    asset: str
    time: float | None
    score: float | None
    health: float | None
    alarm: bool | None
    top_sensors: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    time_unit: str = "cycle"

    def as_json(self) -> dict[str, Any]:
        when: Any = self.time
        if self.time is not None and self.time_unit == "hour":
            when = from_hours(self.time)[0].isoformat().replace("+00:00", "Z")
        return {"asset": self.asset, "time": when, "score": _number(self.score), "health": _number(self.health),
                "alarm": self.alarm, "top_sensors": self.top_sensors, "error": self.error}

    def text(self, time_unit: str = "") -> str:
        when = self.as_json()["time"]
        if self.error:
            return f"{self.asset}\t{when}\terror: {self.error}"
        top = ", ".join(f"{t['sensor']} {t['share']:.0%}" for t in self.top_sensors)
        state = "ALARM" if self.alarm else "normal"
        return f"{self.asset}\t{when}\thealth {self.health:.0f}\tscore {self.score:.2f}\t{state}\ttop: {top}"


def score_history(model: HealthModel, history: History, assets: list[str] | None = None, *,
                  every_row: bool = False) -> list[AssetHealth]:
    """One :class:`AssetHealth` per asset (its latest time step), or per asset and time step
    with ``every_row``; assets asked for but absent from the history get an error.

    Every asset's windows go through the model in one call, so a thousand assets cost one
    onnxruntime run, not a thousand."""
    p = model.preprocessor
    present = history.assets()
    wanted = present if not assets else list(dict.fromkeys(assets))
    unit = history.time_unit
    frame = history.frame
    if assets:
        history = history.select([a for a in wanted if a in present])
        frame = history.frame
    absent = [a for a in wanted if a not in set(present)]
    missing = [c for c in p.settings + p.sensors if c not in frame.columns]
    if missing or frame.empty:
        last = frame.groupby(ASSET, sort=False)[TIME].max().to_dict() if not frame.empty else {}
        out = [AssetHealth(str(a), float(t), None, None, None, error=f"missing columns: {', '.join(missing)}",
                           time_unit=unit) for a, t in last.items()]
        return out + [AssetHealth(a, None, None, None, None, error="no data for this asset", time_unit=unit)
                      for a in absent]
    run_id, _, _, _ = runs(history)
    if not every_row:  # enough rows for the last window's persistence, and a margin
        tail = p.window + model.n - 1 + max(p.min_history, 1)
        keep = (frame.groupby(ASSET, sort=False).cumcount(ascending=False) < tail).to_numpy()
        frame, run_id = frame[keep].reset_index(drop=True), run_id[keep]
    rows = _score_rows(model, frame, run_id)
    if every_row:
        chosen = np.arange(len(frame))
    else:
        chosen = np.flatnonzero(np.r_[frame[ASSET].to_numpy()[1:] != frame[ASSET].to_numpy()[:-1], True])
    names = frame[ASSET].astype(str).to_numpy()
    times = frame[TIME].to_numpy(np.float64)
    out = []
    for i in chosen:
        if rows.error[i] is not None:
            out.append(AssetHealth(names[i], float(times[i]), None, None, None, error=rows.error[i], time_unit=unit))
            continue
        order = np.argsort(-rows.share[i])[:TOP]
        top = [{"sensor": p.channels[j], "share": round(float(rows.share[i, j]), 4)} for j in order
               if rows.share[i, j] > 0]
        out.append(AssetHealth(names[i], float(times[i]), float(rows.score[i]), float(rows.health[i]),
                               bool(rows.alarm[i]), top, time_unit=unit))
    if assets:  # the order asked for
        by_asset: dict[str, list[AssetHealth]] = {}
        for r in out:
            by_asset.setdefault(r.asset, []).append(r)
        out = [r for a in wanted for r in by_asset.get(a, [])]
    return out + [AssetHealth(a, None, None, None, None, error="no data for this asset", time_unit=unit)
                  for a in absent]


@dataclass
class _Rows:
    score: np.ndarray
    health: np.ndarray
    share: np.ndarray
    alarm: np.ndarray
    error: list[str | None]


def _score_rows(model: HealthModel, frame: Any, run_id: np.ndarray) -> _Rows:
    """Scores for every row of ``frame`` (sorted by asset and time; ``run_id`` distinct per
    asset and run) that ends a full window of valid rows of one run."""
    p: Preprocessor = model.preprocessor
    n_rows = len(frame)
    reasons = _row_problems(model, frame)
    valid = np.array([r is None for r in reasons], bool)
    channels = np.zeros((n_rows, len(p.channels)), np.float32)
    if valid.any():
        channels[valid] = p.transform(frame[valid], np.zeros(int(valid.sum())))
    index = np.arange(n_rows)
    clean, run_start = ok_in_a_row(run_id, valid)
    usable = valid & (clean >= max(p.window, p.min_history))
    score = np.full(n_rows, np.nan)
    health = np.full(n_rows, np.nan)
    share = np.zeros((n_rows, len(p.channels)))
    if usable.any():
        windows = p.windows(channels, run_id)[usable]
        scores = model.predict(windows)
        score[usable], health[usable], share[usable] = scores.score, scores.health, scores.contribution
    above = (usable & (score > model.threshold)).astype(np.int64)
    total = np.cumsum(above)
    back = np.maximum(index - model.n, run_start - 1)  # the row before the last n of this run
    recent = total - np.where(back >= 0, total[np.maximum(back, 0)], 0)
    alarm = recent >= model.k
    errors: list[str | None] = []
    for i in range(n_rows):
        if usable[i]:
            errors.append(None)
        else:
            errors.append(reasons[i] or (f"history too short: {int(clean[i])} usable rows, at least "
                                         f"{max(p.window, p.min_history)} needed"))
    return _Rows(score, health, share, alarm, errors)


def _row_problems(model: HealthModel, block: Any) -> list[str | None]:
    """Per row: why it cannot be scored (non-finite values, an unknown operating regime), or None."""
    p = model.preprocessor
    needed = p.settings + p.sensors
    values = block[needed].to_numpy(np.float64)
    bad = ~np.isfinite(values)
    reasons: list[str | None] = [None] * len(block)
    for i in np.flatnonzero(bad.any(axis=1)):
        columns = ", ".join(needed[j] for j in np.flatnonzero(bad[i]))
        reasons[i] = f"NaN or inf in {columns}"
    reach = model.card.get("regime_reach")
    if p.settings and reach:
        scaled = (values[:, : len(p.settings)] - np.asarray(p.settings_mean)) / np.asarray(p.settings_scale)
        centroids = np.asarray(p.centroids)
        distance = np.sqrt(((scaled[:, None, :] - centroids[None]) ** 2).sum(axis=2)).min(axis=1)
        for i in np.flatnonzero(np.isfinite(distance) & (distance > float(reach))):
            if reasons[i] is None:
                shown = ", ".join(f"{s}={values[i, j]:g}" for j, s in enumerate(p.settings))
                reasons[i] = f"operating regime not seen in the normal data ({shown})"
    return reasons


def _number(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 6)
