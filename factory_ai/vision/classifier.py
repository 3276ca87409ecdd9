"""The line-side defect classifier: an ONNX model and its card, judged with onnxruntime.

This is the ``load(dir) -> predict(batch)`` half of the model contract for vision. Everything
it needs (classes, input size and channels, which classes pass, the review threshold) comes
from the card; nothing about a model is hard-coded here.
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

FAMILY = "vision-classifier"
__all__ = ["FAMILY", "PASS", "REJECT", "REVIEW", "DefectClassifier", "Predictions"]


@dataclass
class Predictions:
    probabilities: np.ndarray  # [B, classes]
    heatmaps: np.ndarray  # [B, H, W] in 0..1, the predicted class's activation map

    @property
    def labels(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    @property
    def confidences(self) -> np.ndarray:
        return self.probabilities.max(axis=1)


class DefectClassifier:
    """Judge uint8 ``[B, C, H, W]`` pixel batches and turn labels into verdicts."""

    gives_score = False

    def __init__(self, model: OnnxModel, review_below: float | None = None) -> None:
        card = model.card
        if card.get("family") != FAMILY:
            raise ModelError(f"{model.path}: a {card.get('family')!r} model, not a vision classifier")
        try:
            self.classes: list[str] = list(card["classes"])
            self.good_classes: list[str] = list(card.get("good_classes", []))
            size = card["input"]["image_size"]
            self.spec = InputSpec(int(card["input"]["channels"]), int(size[0]), int(size[1]),
                                  str(card["input"].get("fit", STRETCH)))
            self.review_below = float(
                review_below if review_below is not None else card["thresholds"]["review_below"]
            )
            self._input = card["input"]["name"]
            self._outputs = (card["outputs"]["probabilities"], card["outputs"]["heatmap"])
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ModelError(f"{model.path}: incomplete vision model card ({exc!r})") from None
        self.model = model

    @classmethod
    def load(
        cls,
        model_dir: Path,
        *,
        int8: bool = False,
        device: Device = "auto",
        threads: int = 0,
        review_below: float | None = None,
    ) -> DefectClassifier:
        artifact = "model.int8.onnx" if int8 else "model.onnx"
        return cls(load_model(model_dir, artifact, device=device, threads=threads), review_below)

    @property
    def provider(self) -> str:
        return self.model.provider

    def predict(self, pixels: np.ndarray) -> Predictions:
        if pixels.dtype != np.uint8 or pixels.ndim != 4 or pixels.shape[1:] != (
            self.spec.channels,
            self.spec.height,
            self.spec.width,
        ):
            raise ValueError(
                f"expected uint8 [B, {self.spec.channels}, {self.spec.height}, {self.spec.width}], "
                f"got {pixels.dtype} {list(pixels.shape)}"
            )
        out = self.model.run({self._input: np.ascontiguousarray(pixels)})
        return Predictions(out[self._outputs[0]], out[self._outputs[1]])

    def judge(self, pixels: np.ndarray) -> list[Judgement]:
        """One judgement per image, as the inspection engine wants them."""
        predictions = self.predict(pixels)
        out = []
        for probs, heat in zip(predictions.probabilities, predictions.heatmaps, strict=True):
            top = int(probs.argmax())
            label, confidence = self.classes[top], float(probs[top])
            out.append(Judgement(label=label, confidence=confidence, verdict=self.verdict(label, confidence),
                                 scores={c: float(p) for c, p in zip(self.classes, probs, strict=True)}, heatmap=heat))
        return out

    def verdict(self, label: str, confidence: float) -> str:
        """``review`` below the threshold; else pass/reject, or the class when none passes."""
        if confidence < self.review_below:
            return REVIEW
        if not self.good_classes:
            return label
        return PASS if label in self.good_classes else REJECT
