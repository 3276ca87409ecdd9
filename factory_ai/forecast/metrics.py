"""How good a forecast is: RUL errors, interval coverage, risk calibration and ranking.

- RMSE and the NASA (PHM08) asymmetric score, which punishes late predictions (predicted life
  longer than the truth) harder than early ones, because a late prediction means a failure in
  service. Reported against the truth as given, and against the truth capped at the model's
  RUL cap (the convention of the published C-MAPSS results).
- Coverage and mean width of the RUL interval.
- For risk: precision, recall and F1 at the card's threshold, PR-AUC (average precision,
  which suits rare failures better than ROC-AUC), the Brier score, and a reliability curve.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def rul_metrics(predicted: np.ndarray, low: np.ndarray, high: np.ndarray, truth: np.ndarray, cap: float) -> dict[str, Any]:
    truth = np.asarray(truth, dtype=np.float64)
    capped = np.minimum(truth, cap)
    error = predicted - truth
    return {
        "n": int(len(truth)),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "rmse_capped_truth": float(np.sqrt(np.mean((predicted - capped) ** 2))),
        "mae": float(np.mean(np.abs(error))),
        "nasa_score": nasa_score(predicted, truth),
        "nasa_score_capped_truth": nasa_score(predicted, capped),
        "interval_coverage": float(np.mean((low <= capped) & (capped <= high))),
        "interval_mean_width": float(np.mean(high - low)),
        "truth_above_cap": int((truth > cap).sum()),
    }


def nasa_score(predicted: np.ndarray, truth: np.ndarray) -> float:
    d = np.asarray(predicted, dtype=np.float64) - np.asarray(truth, dtype=np.float64)
    return float(np.sum(np.where(d < 0, np.exp(-d / 13.0) - 1, np.exp(d / 10.0) - 1)))


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the precision-recall curve (step-wise, as scikit-learn's average_precision)."""
    labels = np.asarray(labels).astype(bool)
    if labels.sum() == 0:
        return float("nan")
    order = np.argsort(-np.asarray(scores), kind="mergesort")
    hits = labels[order]
    tp = np.cumsum(hits)
    precision = tp / np.arange(1, len(hits) + 1)
    return float(np.sum(precision[hits]) / hits.sum())


def reliability(labels: np.ndarray, probabilities: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Observed failure share against predicted probability, in equal-width bins."""
    edges = np.linspace(0, 1, bins + 1)
    index = np.clip(np.digitize(probabilities, edges[1:-1]), 0, bins - 1)
    curve = []
    for b in range(bins):
        inside = index == b
        if inside.any():
            curve.append({"bin_low": float(edges[b]), "bin_high": float(edges[b + 1]), "n": int(inside.sum()),
                          "predicted": float(probabilities[inside].mean()), "observed": float(labels[inside].mean())})
    return curve


def risk_metrics(labels: np.ndarray, probabilities: np.ndarray, threshold: float) -> dict[str, Any]:
    labels = np.asarray(labels).astype(np.int64)
    p = np.asarray(probabilities, dtype=np.float64)
    flagged = p >= threshold
    tp = int((flagged & (labels == 1)).sum())
    fp = int((flagged & (labels == 0)).sum())
    fn = int((~flagged & (labels == 1)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "n": int(len(labels)), "positives": int(labels.sum()), "threshold": float(threshold),
        "precision": precision, "recall": recall, "f1": f1, "pr_auc": average_precision(labels, p),
        "brier": float(np.mean((p - labels) ** 2)), "reliability": reliability(labels, p),
    }


def best_f1_threshold(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """The probability cut that maximises F1 (chosen on validation, used on the line)."""
    candidates = np.unique(np.round(probabilities, 4))
    if len(candidates) > 400:
        candidates = np.quantile(probabilities, np.linspace(0.5, 0.999, 400))
    best = (-1.0, 0.5)
    for t in candidates:
        f1 = risk_metrics(labels, probabilities, float(t))["f1"]
        if f1 > best[0]:
            best = (f1, float(t))
    return best[1]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_reliability(curves: dict[str, list[dict[str, float]]], path: Path, title: str) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfectly calibrated")
    for name, curve in curves.items():
        if curve:
            ax.plot([c["predicted"] for c in curve], [c["observed"] for c in curve], marker="o", label=name)
    ax.set_xlabel("predicted failure probability")
    ax.set_ylabel("observed failure share")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_rul_scatter(predicted: np.ndarray, low: np.ndarray, high: np.ndarray, truth: np.ndarray, cap: float,
                     path: Path, title: str) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    order = np.argsort(truth)
    ax.errorbar(truth[order], predicted[order], yerr=[predicted[order] - low[order], high[order] - predicted[order]],
                fmt="o", markersize=3, alpha=0.6, elinewidth=0.6, label="predicted (80 % interval)")
    top = max(float(np.max(truth)), cap) * 1.05
    ax.plot([0, top], [0, top], color="grey", linestyle="--", label="perfect")
    ax.axhline(cap, color="tab:red", linewidth=0.8, linestyle=":", label=f"RUL cap {cap:g}")
    ax.set_xlabel("true remaining life")
    ax.set_ylabel("predicted remaining life")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
