"""The p-chart and the Western Electric rules, as plain functions (alerts and reports share them).

Why a p-chart: an inspection station's output is pass or not, in subgroups of varying size
(parts per hour), and the p-chart's limits widen for small subgroups instead of crying wolf.
The four Western Electric rules catch what a single limit misses: a shift of one or two
sigma that persists is a process change long before any one hour breaks the 3-sigma line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PChart:
    """Per subgroup: size, defect proportion, and its distance from the centre in sigmas."""

    center: float
    n: np.ndarray
    p: np.ndarray
    sigma: np.ndarray

    @property
    def z(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.sigma > 0, (self.p - self.center) / self.sigma, 0.0)

    @property
    def upper(self) -> np.ndarray:
        return np.minimum(1.0, self.center + 3 * self.sigma)

    @property
    def lower(self) -> np.ndarray:
        return np.maximum(0.0, self.center - 3 * self.sigma)


def p_chart(defects: np.ndarray, sizes: np.ndarray, center: float | None = None) -> PChart:
    """The chart for subgroups with ``defects`` out of ``sizes``; centre = pooled proportion
    unless given (a fixed centre from a stable baseline period is the textbook practice)."""
    defects = np.asarray(defects, dtype=float)
    sizes = np.asarray(sizes, dtype=float)
    if center is None:
        total = sizes.sum()
        center = float(defects.sum() / total) if total else 0.0
    p = np.divide(defects, sizes, out=np.zeros_like(defects), where=sizes > 0)
    sigma = np.sqrt(center * (1 - center) / np.maximum(sizes, 1))
    return PChart(center=center, n=sizes, p=p, sigma=sigma)


@dataclass(frozen=True)
class Violation:
    rule: int  # 1-4
    index: int  # the subgroup that completes the pattern
    side: int  # +1 above the centre, -1 below

    def describe(self) -> str:
        where = "above" if self.side > 0 else "below"
        return {
            1: f"one subgroup beyond 3 sigma {where} the centre",
            2: f"2 of 3 subgroups beyond 2 sigma {where} the centre",
            3: f"4 of 5 subgroups beyond 1 sigma {where} the centre",
            4: f"8 subgroups in a row {where} the centre",
        }[self.rule]


# rule: (points in the window, how many of them must be beyond, sigma)
_RULES = {1: (1, 1, 3.0), 2: (3, 2, 2.0), 3: (5, 4, 1.0), 4: (8, 8, 0.0)}


def western_electric(z: np.ndarray, rules: tuple[int, ...] = (1, 2, 3, 4), start: int = 0) -> list[Violation]:
    """Every violation of ``rules`` in the z-scores whose window ends at index ``start`` or later.

    Rule 4 counts points strictly on one side (a point on the centre line breaks the run).
    """
    z = np.asarray(z, dtype=float)
    found: list[Violation] = []
    for rule in rules:
        width, need, limit = _RULES[rule]
        for end in range(max(start, width - 1), len(z)):
            window = z[end - width + 1:end + 1]
            for side in (1, -1):
                beyond = side * window > limit if limit > 0 else side * window > 0
                # The pattern must include the newest point, or it was reported at an earlier end.
                if beyond.sum() >= need and beyond[-1]:
                    found.append(Violation(rule, end, side))
    return found

