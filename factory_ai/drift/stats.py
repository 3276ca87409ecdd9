"""Distribution shift between a reference summary (percentiles) and a live sample.

- PSI (population stability index) over the reference's deciles: below 0.1 is usually read as
  stable, 0.1-0.25 as a moderate shift, above 0.25 as a major one.
- KS: the largest gap between the reference CDF (interpolated between percentiles) and the
  sample's empirical CDF. Unlike a p-value it does not grow with the sample size, so one
  threshold works for a quiet sensor and a 10 Hz one alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_EPS = 1e-4


def reference_cdf(reference: dict[str, Any], x: np.ndarray, *, left: bool = False) -> np.ndarray:
    """P(X <= x) from the percentiles, linear between them; ``left`` gives P(X < x) instead,
    which differs where the reference sits on one value for several percentiles (ties)."""
    q = np.asarray(reference["quantiles"], dtype=np.float64)
    levels = np.linspace(0.0, 1.0, len(q))
    x = np.asarray(x, dtype=np.float64)
    index = np.searchsorted(q, x, side="left" if left else "right")
    lo, hi = np.clip(index - 1, 0, len(q) - 1), np.clip(index, 0, len(q) - 1)
    if left:  # at a tie, P(X < x) is the level where the run of equal percentiles starts
        on_tie = (index < len(q)) & (q[hi] == x)
        lo = np.where(on_tie, hi, lo)
    span = q[hi] - q[lo]
    frac = np.divide(x - q[lo], span, out=np.zeros_like(x), where=span > 0)
    cdf = levels[lo] + frac * (levels[hi] - levels[lo])
    below = x < q[0] if not left else x <= q[0]
    above = x >= q[-1] if not left else x > q[-1]
    return np.where(below, 0.0, np.where(above, 1.0, cdf))


def ks(reference: dict[str, Any], sample: np.ndarray) -> float:
    """The KS distance, checked on both sides of every distinct sample value (ties included)."""
    values, counts = np.unique(np.asarray(sample, dtype=np.float64), return_counts=True)
    upto = np.cumsum(counts) / counts.sum()
    before = upto - counts / counts.sum()
    gaps = np.r_[np.abs(upto - reference_cdf(reference, values)),
                 np.abs(before - reference_cdf(reference, values, left=True))]
    return float(gaps.max())


def psi(reference: dict[str, Any], sample: np.ndarray) -> float:
    q = np.asarray(reference["quantiles"], dtype=np.float64)
    edges = np.unique(q[10:-1:10])  # interior deciles
    expected = np.diff(np.concatenate([[0.0], reference_cdf(reference, edges), [1.0]]))
    # Bins (-inf, e0], (e0, e1], ...: closed on the right, as the CDF P(X <= x) that sizes them.
    counts = np.bincount(np.searchsorted(edges, np.asarray(sample, dtype=np.float64), side="left"),
                         minlength=len(edges) + 1)
    actual = counts / max(1, counts.sum())
    expected, actual = np.maximum(expected, _EPS), np.maximum(actual, _EPS)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def shift(reference: dict[str, Any], sample: np.ndarray, method: str) -> float:
    return psi(reference, sample) if method == "psi" else ks(reference, sample)
