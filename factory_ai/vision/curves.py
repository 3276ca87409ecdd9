"""Learning curves: the one picture that shows whether a network learned.

Why every version gets one: a model that never left the class prior looks, in its card, like
any other model with poor figures; on its curves it is a flat line at the prior's loss, and
an over-fitted one is a validation loss climbing while the training loss falls. People see
that at a glance, so ``curves.png`` is written beside every version and shown by
``factory-ai models show`` and the console's model page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_curves(history: list[dict[str, Any]], path: Path, title: str, *, prior: float | None = None,
                metric: str = "macro_f1", metric_label: str = "macro-F1") -> Path:
    """Loss (left) and a figure of merit (right, ``train_<metric>`` and ``val_<metric>`` where
    the history has them) per epoch; the class-prior entropy, when given, as a dashed line on
    the loss panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    left.plot(epochs, [h["train_loss"] for h in history], marker=".", label="train")
    left.plot(epochs, [h["val_loss"] for h in history], marker=".", label="validation")
    if prior is not None:
        left.axhline(prior, color="grey", linestyle="--", linewidth=1, label="learned nothing (class prior)")
    left.set_xlabel("epoch")
    left.set_ylabel("cross-entropy loss")
    left.set_ylim(bottom=0)
    left.legend(fontsize=8)
    if all(h.get(f"train_{metric}") is not None for h in history):
        right.plot(epochs, [h[f"train_{metric}"] for h in history], marker=".", label="train (augmented)")
    right.plot(epochs, [h[f"val_{metric}"] for h in history], marker=".", label="validation")
    if metric == "macro_f1" and "val_balanced_accuracy" in history[0]:
        right.plot(epochs, [h["val_balanced_accuracy"] for h in history], linestyle=":",
                   label="validation balanced accuracy")
    right.set_xlabel("epoch")
    right.set_ylabel(metric_label)
    right.set_ylim(0, 1.02)
    right.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
