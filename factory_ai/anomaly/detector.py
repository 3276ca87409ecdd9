"""The line-side anomaly detector: an ONNX model of the good part and its card, onnxruntime only.

The graph takes uint8 pixels on the same canvas as the classifier (``vision.geometry``) and
returns, per image, a raw anomaly score and a pixel anomaly map (0..1, how likely each pixel is
not as on a good part). Everything that turns the raw score into a decision comes from the card:

- the **calibrated score** is the raw score divided by the threshold, which training set at
  the score the plant's ``--max-false-reject`` share of held-out good parts reach; so 1.0 is
  the threshold on every detector, and a good part scores below it 99 times in 100 (by default);
- the **verdict**: ``reject`` at or above the review band's top, ``pass`` below its bottom,
  ``review`` between (the band sits around 1.0);
- the **confidence** of the label (``anomaly`` at or above 1.0, else ``good``) grows with the
  distance from the threshold; it is 0.5 at the threshold and about 0.9 at the band's edges.

Unlike a classifier's heatmap (scaled per image), the anomaly map is absolute: a good part's
map stays cold.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from factory_ai.errors import ModelError
from factory_ai.runtime import Device, OnnxModel, load_model
from factory_ai.vision.geometry import STRETCH
from factory_ai.vision.images import InputSpec
from factory_ai.vision.judgement import PASS, REJECT, REVIEW, Judgement

FAMILY = "anomaly"
GOOD, ANOMALY = "good", "anomaly"


@dataclass
class Detections:
    raw: np.ndarray  # [B] raw scores, as the graph computes them
    scores: np.ndarray  # [B] calibrated: 1.0 is the threshold
    maps: np.ndarray  # [B, H, W] 0..1 at canvas size


class AnomalyDetector:
    """Judge uint8 ``[B, C, H, W]`` pixel batches against the model of the good part."""

    classes = [GOOD, ANOMALY]
    good_classes = [GOOD]
    gives_score = True  # inspect --json adds the calibrated score

    def __init__(self, model: OnnxModel) -> None:
        card = model.card
        if card.get("family") != FAMILY:
            raise ModelError(f"{model.path}: a {card.get('family')!r} model, not an anomaly detector")
        try:
            size = card["input"]["image_size"]
            self.spec = InputSpec(int(card["input"]["channels"]), int(size[0]), int(size[1]),
                                  str(card["input"].get("fit", STRETCH)))
            thresholds = card["thresholds"]
            self.threshold = float(thresholds["raw_threshold"])
            self.review_band = (float(thresholds["review_band"][0]), float(thresholds["review_band"][1]))
            self._input = card["input"]["name"]
            self._outputs = (card["outputs"]["score"], card["outputs"]["map"])
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ModelError(f"{model.path}: incomplete anomaly model card ({exc!r})") from None
        if not self.threshold > 0:
            raise ModelError(f"{model.path}: the card's threshold {self.threshold} is not positive")
        self.model = model

    @classmethod
    def load(cls, model_dir: Path, *, int8: bool = False, device: Device = "auto", threads: int = 0) -> AnomalyDetector:
        artifact = "model.int8.onnx" if int8 else "model.onnx"
        return cls(load_model(model_dir, artifact, device=device, threads=threads))

    @property
    def provider(self) -> str:
        return self.model.provider

    def detect(self, pixels: np.ndarray) -> Detections:
        if pixels.dtype != np.uint8 or pixels.ndim != 4 or pixels.shape[1:] != (
                self.spec.channels, self.spec.height, self.spec.width):
            raise ValueError(f"expected uint8 [B, {self.spec.channels}, {self.spec.height}, {self.spec.width}], "
                             f"got {pixels.dtype} {list(pixels.shape)}")
        out = self.model.run({self._input: np.ascontiguousarray(pixels)})
        raw = out[self._outputs[0]].astype(np.float64).reshape(-1)
        return Detections(raw=raw, scores=raw / self.threshold, maps=out[self._outputs[1]])

    def confidence(self, score: float) -> float:
        """How sure the label is: 0.5 at the threshold, about 0.9 at the edges of the review band."""
        spread = max((self.review_band[1] - self.review_band[0]) / 2, 1e-6) / 2.2
        p = 1.0 / (1.0 + np.exp(-(score - 1.0) / spread))
        return float(p if score >= 1.0 else 1.0 - p)

    def verdict(self, score: float) -> str:
        low, high = self.review_band
        return REJECT if score >= high else PASS if score < low else REVIEW

    def judge(self, pixels: np.ndarray) -> list[Judgement]:
        """One judgement per image, as the inspection engine wants them."""
        found = self.detect(pixels)
        out = []
        for score, heat in zip(found.scores, found.maps, strict=True):
            label = ANOMALY if score >= 1.0 else GOOD
            confidence = self.confidence(float(score))
            p_anomaly = confidence if label == ANOMALY else 1.0 - confidence
            out.append(Judgement(label=label, confidence=confidence, verdict=self.verdict(float(score)),
                                 scores={GOOD: 1.0 - p_anomaly, ANOMALY: p_anomaly}, heatmap=heat,
                                 score=float(score)))
        return out
