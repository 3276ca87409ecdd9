"""What an inspection model says about one image, whatever its family.

Why a shared shape: the inspection engine, the daemon's two-model line and the store treat a
classifier and an anomaly detector alike. Each judges a batch of canvas pixels and returns one
:class:`Judgement` per image; the engine fills in the file's facts (hash, latency, brightness).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

PASS, REJECT, REVIEW = "pass", "reject", "review"


@dataclass
class Judgement:
    label: str  # the class (a classifier's), or good / anomaly (a detector's)
    confidence: float  # 0..1, how sure the label is
    verdict: str  # pass, reject, review, or the class for a classifier without a good class
    scores: dict[str, float]  # per class
    heatmap: np.ndarray = field(repr=False)  # [H, W] 0..1 at canvas size
    score: float | None = None  # a detector's calibrated anomaly score (1.0 = its threshold)
