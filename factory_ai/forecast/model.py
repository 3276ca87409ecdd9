"""The line-side forecast model: ``load(dir)`` then ``predict(windows)``, onnxruntime only.

A forecast version holds up to two ONNX members (the fold-averaged temporal network and the
fold-averaged gradient-boosting model) and a card that says how to combine them, all decided
on out-of-fold predictions at training time:

- RUL: a weighted mean of the members, clipped to ``[0, cap]``;
- interval: the network's quantile half-widths around that RUL, widened by a conformal margin
  so that it covers the stated share of validation outcomes (80 % by default);
- risk of failure within the horizon: a weighted mean of member probabilities, then Platt
  calibration, so that "0.3" means about three failures in ten.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from factory_ai.errors import ModelError
from factory_ai.forecast.features import Preprocessor, summarise
from factory_ai.runtime import Device, OnnxModel, load_model

FAMILY = "forecast"
NETWORK, GBM = "network", "gbm"


@dataclass
class Forecast:
    rul: np.ndarray
    rul_low: np.ndarray
    rul_high: np.ndarray
    risk: np.ndarray


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def combine(card: dict[str, Any], outputs: dict[str, dict[str, np.ndarray]], n: int) -> Forecast:
    """Turn raw member outputs into the forecast the card describes (also used at training)."""
    weights = card["combine"]
    nan = np.full(n, np.nan)
    rul = low = high = nan
    if card["task"] == "rul":
        cap = float(card["rul_cap"])
        rul = sum(w * outputs[m]["rul"] for m, w in weights["rul"].items())
        rul = np.clip(rul, 0.0, cap)
        below, above = half_widths(card, outputs, n)
        widen = float(card["interval"]["widen"])
        low = np.clip(rul - below - widen, 0.0, rul)
        high = np.maximum(rul + above + widen, rul)
    risk = nan
    if weights.get("risk"):
        risk = calibrated(card, sum(w * outputs[m]["risk"] for m, w in weights["risk"].items()))
    return Forecast(rul=rul, rul_low=low, rul_high=high, risk=risk)


def calibrated(card: dict[str, Any], raw: np.ndarray) -> np.ndarray:
    """The card's Platt calibration applied to a combined raw probability."""
    calibration = card.get("risk_calibration")
    return _sigmoid(calibration["a"] * _logit(raw) + calibration["b"]) if calibration else raw


def half_widths(card: dict[str, Any], outputs: dict[str, dict[str, np.ndarray]], n: int) -> tuple[np.ndarray, np.ndarray]:
    """The interval's reach below and above the RUL before conformal widening: the network's
    own quantile spread when the network takes part in the RUL, else nothing (the widening
    alone then makes the interval)."""
    if NETWORK in card["combine"]["rul"] and NETWORK in outputs:
        net = outputs[NETWORK]
        return net["rul"] - net["low"], net["high"] - net["rul"]
    return np.zeros(n), np.zeros(n)


class ForecastModel:
    def __init__(self, card: dict[str, Any], members: dict[str, OnnxModel]) -> None:
        if card.get("family") != FAMILY:
            raise ModelError(f"a {card.get('family')!r} model, not a forecast model")
        self.card = card
        self.members = members
        self.preprocessor = Preprocessor.from_dict(card["preprocessing"])
        self.horizon = float(card["horizon"])

    @classmethod
    def load(cls, model_dir: Path, *, device: Device = "auto", threads: int = 0) -> ForecastModel:
        from factory_ai.registry import read_card

        card = read_card(model_dir)
        if card.get("family") != FAMILY:
            raise ModelError(f"{model_dir}: a {card.get('family')!r} model, not a forecast model")
        members = {name: load_model(model_dir, spec["artifact"], device=device, threads=threads)
                   for name, spec in card["members"].items()}
        return cls(card, members)

    @property
    def provider(self) -> str:
        return next(iter(self.members.values())).provider

    def raw(self, windows: np.ndarray, members: list[str] | None = None) -> dict[str, dict[str, np.ndarray]]:
        """Each member's outputs in cycles/probabilities, before combining."""
        out: dict[str, dict[str, np.ndarray]] = {}
        cap = float(self.card.get("rul_cap") or 1.0)
        for name in members or list(self.members):
            model = self.members[name]
            if name == NETWORK:
                result = model.run({"windows": np.ascontiguousarray(windows, dtype=np.float32)})
                q = result["quantiles"].astype(np.float64) * cap
                out[name] = {"low": q[:, 0], "rul": q[:, 1], "high": q[:, 2],
                             "risk": _sigmoid(result["risk_logit"].astype(np.float64))}
            else:
                result = model.run({"features": summarise(windows)})
                out[name] = {k: v.astype(np.float64) for k, v in result.items()}
        return out

    def predict(self, windows: np.ndarray) -> Forecast:
        if windows.ndim != 3 or windows.shape[1:] != (self.preprocessor.window, len(self.preprocessor.channels)):
            raise ValueError(f"expected windows [N, {self.preprocessor.window}, {len(self.preprocessor.channels)}], "
                             f"got {list(windows.shape)}")
        if len(windows) == 0:
            empty = np.zeros(0)
            return Forecast(empty, empty, empty, empty)
        return combine(self.card, self.raw(windows, self.used), len(windows))

    @property
    def used(self) -> list[str]:
        """Members the combination weighs (a member that lost out out-of-fold ships but sits idle)."""
        weights = self.card["combine"]
        return [m for m in self.members if m in weights["rul"] or m in weights["risk"]]
