"""Figures and plots for an anomaly detector: numpy, matplotlib and scipy only (line side).

- **image AUROC**: the chance that a defective part scores above a good one (0.5 is a coin,
  1.0 separates them completely); it does not depend on any threshold;
- **false-reject and escape rates at the shipped threshold** (calibrated score 1.0): what the
  line will actually do;
- where defect masks exist, **pixel AUROC** and **PRO** (per-region overlap, averaged over the
  false-positive rates from 0 to 0.3 and normalised, as in the MVTec AD benchmark): whether the
  map points at the flaw, with small flaws counting as much as large ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np


def auroc(good: np.ndarray, bad: np.ndarray) -> float | None:
    """Area under the ROC curve for scores where higher means more anomalous (ties count half)."""
    good, bad = np.asarray(good, np.float64).ravel(), np.asarray(bad, np.float64).ravel()
    if not len(good) or not len(bad):
        return None
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([good, bad]))
    bad_ranks = ranks[len(good):].sum()
    return float((bad_ranks - len(bad) * (len(bad) + 1) / 2) / (len(good) * len(bad)))


def roc_curve(good: np.ndarray, bad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false-positive rate, true-positive rate) at every distinct score, from (0, 0) to (1, 1)."""
    scores = np.concatenate([good, bad])
    truth = np.concatenate([np.zeros(len(good)), np.ones(len(bad))])
    order = np.argsort(-scores, kind="stable")
    truth = truth[order]
    tps, fps = np.cumsum(truth), np.cumsum(1 - truth)
    return np.r_[0, fps / max(len(good), 1)], np.r_[0, tps / max(len(bad), 1)]


def rates(good: np.ndarray, bad: np.ndarray, threshold: float = 1.0) -> dict[str, float | None]:
    """False-reject rate (good at or above the threshold) and escape rate (defects below it)."""
    good, bad = np.asarray(good), np.asarray(bad)
    return {"false_reject_rate": float((good >= threshold).mean()) if len(good) else None,
            "escape_rate": float((bad < threshold).mean()) if len(bad) else None}


class Threshold(NamedTuple):
    value: float  # the raw score at calibrated 1.0
    method: str  # how it was set, in words, for the card
    fitted: bool = False  # True when the fitted tail, not the held-out parts' own quantile, set it


# With fewer held-out good parts than this many per expected exceedance, the empirical quantile
# is too coarse: at 1 % and 40 parts it is the highest of them, which a fresh good part exceeds
# about once in 41 on average, and far more often when the 40 happen to miss the tail.
TAIL_FIT_BELOW = 10
TAIL_FIT_MIN_PARTS = 20


def threshold_for(good: np.ndarray, max_false_reject: float) -> Threshold:
    """The raw score that at most ``max_false_reject`` of good parts should reach.

    With enough held-out good parts (``TAIL_FIT_BELOW`` or more expected above it) this is their
    empirical quantile. With fewer, the quantile is extrapolated from the shape of their scores,
    and the higher of the two is kept: the raw score is the hottest of many cells' probabilities,
    so its logit is the maximum of many roughly independent, light-tailed values, and such a
    maximum follows a Gumbel distribution (the extreme-value law for maxima); its quantile is
    read from a Gumbel fitted to the logits by their mean and spread. Measured on the synthetic
    parts with 40 held-out good parts (session 32): the highest of them, as the threshold,
    rejected 13.8 % of fresh good parts and the fitted tail 3.7 %, for escapes of 2.7 % and 4.0 %.
    """
    good = np.sort(np.asarray(good, np.float64).ravel())
    if not len(good):
        raise ValueError("no good scores to set a threshold from")
    empirical = float(np.quantile(good, 1.0 - max_false_reject, method="higher")) * (1 + 1e-6)
    expected_above = len(good) * max_false_reject

    def own(note: str) -> Threshold:
        """The held-out parts' own quantile (their highest score when fewer than one is expected above it)."""
        what = (f"the highest of {len(good)} held-out good parts' scores" if expected_above < 1
                else f"the empirical {1 - max_false_reject:.4g} quantile of {len(good)} held-out good parts")
        return Threshold(empirical, f"{what} ({note})" if note else what)

    if expected_above >= TAIL_FIT_BELOW:
        return own("")
    if len(good) < TAIL_FIT_MIN_PARTS or good[0] <= 0.0 or good[-1] >= 1.0:
        return own("too few to fit a tail" if len(good) < TAIL_FIT_MIN_PARTS else "scores at 0 or 1: no tail fitted")
    logits = np.log(good / (1.0 - good))
    beta = float(logits.std(ddof=1)) * np.sqrt(6.0) / np.pi
    location = float(logits.mean()) - np.euler_gamma * beta
    tail = float(1.0 / (1.0 + np.exp(-(location - beta * np.log(-np.log(1.0 - max_false_reject))))))
    if tail <= empirical:
        return own("above the fitted tail's")
    return Threshold(tail, f"the {1 - max_false_reject:.4g} quantile of a Gumbel law fitted to the logits of "
                     f"{len(good)} held-out good parts' scores (above their empirical quantile)", fitted=True)


def pixel_figures(maps: list[np.ndarray], masks: list[np.ndarray], *, max_fpr: float = 0.3, steps: int = 100,
                  sample: int = 2_000_000) -> dict[str, float | None]:
    """Pixel AUROC and PRO of anomaly ``maps`` against boolean ``masks`` (pairs of 2-D arrays of
    the same shape; images may differ in size)."""
    from scipy import ndimage

    masks = [np.asarray(m, bool) for m in masks]
    flat_maps = np.concatenate([np.asarray(m, np.float64).ravel() for m in maps])
    flat_masks = np.concatenate([m.ravel() for m in masks])
    if not flat_masks.any() or flat_masks.all():
        return {"pixel_auroc": None, "pro": None}
    background = flat_maps[~flat_masks]
    if flat_maps.size > sample:  # a seeded subsample keeps the AUROC exact enough and the memory small
        pick = np.random.default_rng(0).choice(flat_maps.size, sample, replace=False)
        pixel = auroc(flat_maps[pick][~flat_masks[pick]], flat_maps[pick][flat_masks[pick]])
    else:
        pixel = auroc(background, flat_maps[flat_masks])
    regions = []
    for mask, amap in zip(masks, maps, strict=True):
        labelled, count = ndimage.label(mask)
        regions += [np.asarray(amap)[labelled == k] for k in range(1, count + 1)]
    thresholds = np.quantile(background, np.linspace(1 - max_fpr, 1, steps))
    fprs = np.array([(background >= t).mean() for t in thresholds])
    pros = np.array([np.mean([(r >= t).mean() for r in regions]) for t in thresholds])
    order = np.argsort(fprs)
    fprs, pros = fprs[order], pros[order]
    area = float(np.sum((fprs[1:] - fprs[:-1]) * (pros[1:] + pros[:-1]) / 2))
    span = fprs[-1] - fprs[0]
    return {"pixel_auroc": pixel, "pro": area / span if span > 0 else None}


def plot_scores(good: np.ndarray, bad: np.ndarray, band: tuple[float, float], path: Path, title: str) -> Path:
    """Histograms of good and defective parts' calibrated scores with the threshold and review
    band (left), and the ROC curve (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    values = np.concatenate([good, bad]) if len(bad) else np.asarray(good)
    top = max(2.0, float(np.quantile(values, 0.99)) * 1.1) if len(values) else 2.0
    bins = np.linspace(0, top, 40)
    left.hist(np.clip(good, 0, top), bins=bins, alpha=0.6, label=f"good ({len(good)})", color="tab:green")
    if len(bad):
        left.hist(np.clip(bad, 0, top), bins=bins, alpha=0.6, label=f"defective ({len(bad)})", color="tab:red")
    left.axvspan(band[0], band[1], color="grey", alpha=0.15, label="review band")
    left.axvline(1.0, color="black", linestyle="--", linewidth=1, label="threshold")
    left.set_xlabel("calibrated anomaly score")
    left.set_ylabel("parts")
    left.legend(fontsize=8)
    if len(bad) and len(good):
        fpr, tpr = roc_curve(good, bad)
        right.plot(fpr, tpr, label=f"AUROC {auroc(good, bad):.3f}")
        right.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
        right.set_xlabel("false-reject rate (good parts)")
        right.set_ylabel("share of defects caught")
        right.legend(fontsize=8, loc="lower right")
    else:
        right.text(0.5, 0.5, "no defective test images:\nno ROC curve", ha="center", va="center")
        right.set_axis_off()
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_sheet(images: list[Any], maps: list[np.ndarray], captions: list[str], path: Path, title: str,
               columns: int = 4) -> Path:
    """A sheet of images with their anomaly maps laid over them (the highest-scoring test parts)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from factory_ai.vision.heatmap import overlay

    rows = max(1, -(-len(images) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.0 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, image, amap, caption in zip(axes.ravel(), images, maps, captions, strict=False):
        ax.imshow(overlay(image, amap))
        ax.set_title(caption, fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
