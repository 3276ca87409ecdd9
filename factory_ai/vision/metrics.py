"""Classification metrics a quality engineer reads: per-class scores, confusion, escapes.

Plain numpy (no scikit-learn import on this path) so evaluation runs the same on the training
server and on a line-side PC. The escape rate, defects that were passed, is the number a
plant cares about most; the false-reject rate is what the scrap bin costs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """``[true, predicted]`` counts for ``k`` classes."""
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return confusion


def _per_class(confusion: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    k = len(confusion)
    true_pos = np.diag(confusion).astype(np.float64)
    predicted = confusion.sum(axis=0).astype(np.float64)
    actual = confusion.sum(axis=1).astype(np.float64)
    precision = np.divide(true_pos, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(true_pos, actual, out=np.zeros(k), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(k), where=denom > 0)
    return precision, recall, f1, actual


def macro_f1(confusion: np.ndarray) -> float:
    """Mean F1 over the classes present: every class counts the same, however rare."""
    _, _, f1, actual = _per_class(confusion)
    return float(f1[actual > 0].mean()) if (actual > 0).any() else 0.0


def balanced_accuracy(confusion: np.ndarray) -> float:
    """Mean recall over the classes present: what accuracy would be if every class were equally
    common. Always answering the commonest class scores 1 / classes, whatever the skew."""
    _, recall, _, actual = _per_class(confusion)
    return float(recall[actual > 0].mean()) if (actual > 0).any() else 0.0


def majority_baseline(support: list[int]) -> dict[str, float]:
    """The figures of always answering the commonest class, on a test split with this support."""
    support_arr = np.asarray(support, dtype=np.float64)
    present = support_arr > 0
    if not present.any():
        return {"accuracy": 0.0, "balanced_accuracy": 0.0, "macro_f1": 0.0}
    share = support_arr.max() / support_arr.sum()
    return {"accuracy": float(share), "balanced_accuracy": float(1 / present.sum()),
            "macro_f1": float(2 * share / (1 + share) / present.sum())}


def evaluate(
    y_true: np.ndarray, y_pred: np.ndarray, classes: list[str], good_classes: list[str] | None = None
) -> dict[str, Any]:
    """Accuracy, precision/recall/F1 per class, the confusion matrix and (with good classes)
    the escape and false-reject rates."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    k = len(classes)
    confusion = confusion_matrix(y_true, y_pred, k)
    precision, recall, f1, actual = _per_class(confusion)
    true_pos = np.diag(confusion).astype(np.float64)
    n = int(confusion.sum())
    result: dict[str, Any] = {
        "n": n,
        "accuracy": float(true_pos.sum() / n) if n else 0.0,
        "errors": n - int(true_pos.sum()),
        "per_class": {
            c: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]), "support": int(actual[i])}
            for i, c in enumerate(classes)
        },
        "macro_f1": macro_f1(confusion),
        "balanced_accuracy": balanced_accuracy(confusion),
        "baseline": majority_baseline(actual.astype(int).tolist()),
        "confusion": {"classes": classes, "matrix": confusion.tolist()},
    }
    if good_classes:
        good = np.isin(np.arange(k), [classes.index(c) for c in good_classes])
        true_good, pred_good = good[y_true], good[y_pred]
        defects, goods = int((~true_good).sum()), int(true_good.sum())
        result["escape_rate"] = float((~true_good & pred_good).sum() / defects) if defects else None
        result["false_reject_rate"] = float((true_good & ~pred_good).sum() / goods) if goods else None
    return result


def plot_confusion(evaluation: dict[str, Any], path: Path, title: str = "Confusion matrix (test split)") -> Path:
    """Write the confusion matrix as a PNG: counts in each cell, rows normalised for colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classes = evaluation["confusion"]["classes"]
    matrix = np.asarray(evaluation["confusion"]["matrix"])
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros(matrix.shape), where=rows > 0)
    size = max(4.0, 0.8 * len(classes) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=40, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{title}\naccuracy {evaluation['accuracy']:.2%} on {evaluation['n']} images")
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center",
                    color="white" if share[i, j] > 0.5 else "black", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, label="share of true class")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def summary(evaluation: dict[str, Any]) -> str:
    """A few readable lines for the terminal."""
    lines = [f"accuracy {evaluation['accuracy']:.2%} ({evaluation['errors']} errors in {evaluation['n']} images), "
             f"balanced accuracy {evaluation.get('balanced_accuracy', float('nan')):.2%}, "
             f"macro F1 {evaluation['macro_f1']:.3f}"]
    if "baseline" in evaluation:
        base = evaluation["baseline"]
        lines.append(f"always answering the commonest class would score: accuracy {base['accuracy']:.2%}, "
                     f"balanced accuracy {base['balanced_accuracy']:.2%}, macro F1 {base['macro_f1']:.3f}")
    if evaluation.get("escape_rate") is not None or evaluation.get("false_reject_rate") is not None:
        esc, frr = evaluation.get("escape_rate"), evaluation.get("false_reject_rate")
        lines.append(
            f"escape rate {'-' if esc is None else f'{esc:.2%}'} (defects passed), "
            f"false-reject rate {'-' if frr is None else f'{frr:.2%}'} (good parts rejected)"
        )
    width = max(len(c) for c in evaluation["per_class"])
    lines.append(f"{'class'.ljust(width)}  precision  recall     f1  support")
    for name, m in evaluation["per_class"].items():
        lines.append(f"{name.ljust(width)}  {m['precision']:9.3f}  {m['recall']:6.3f}  {m['f1']:5.3f}  {m['support']:7d}")
    return "\n".join(lines)
