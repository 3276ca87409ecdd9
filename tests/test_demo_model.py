"""The committed demo model: loads without torch-side files, and its card tells the truth."""

import json
from pathlib import Path

import numpy as np
import pytest

from factory_ai.registry import Registry, read_card
from factory_ai.vision.classifier import DefectClassifier
from factory_ai.vision.images import read_pixels

ROOT = Path(__file__).resolve().parent.parent


def test_demo_model_scores_what_its_card_says() -> None:
    ref = Registry(ROOT / "models", fallbacks=()).resolve("demo-surface")
    card = read_card(ref.path)
    split = json.loads((ref.path / "split.json").read_text())
    data = ROOT / split["roots"]["data"]
    if not data.is_dir():
        pytest.skip(f"{data} not present")
    test = split["files"]["test"]
    for int8, key in ((False, "test"), (True, "test_int8")):
        classifier = DefectClassifier.load(ref.path, int8=int8, device="cpu", threads=2)
        pixels = np.stack([read_pixels(data / f["path"], classifier.spec) for f in test])
        truth = np.array([card["classes"].index(f["label"]) for f in test])
        accuracy = float((classifier.predict(pixels).labels == truth).mean())
        assert accuracy == pytest.approx(card["metrics"][key]["accuracy"])
        assert accuracy >= 0.9
    assert card["good_classes"] == ["good"]
