"""The good-only anomaly detector as a model family (see ``factory_ai.family``): line side only."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from factory_ai.family import Family, Retraining
from factory_ai.vision.family import inspection_samples

FIGURES = {"image_auroc": "image AUROC", "false_reject_rate": "false-reject rate", "escape_rate": "escape rate",
           "pixel_auroc": "pixel AUROC", "pro": "PRO"}


class Detector(Family):
    id = "anomaly"
    key = "anomaly"
    title = "anomaly detector (good parts only)"
    train_command = "anomaly"
    role = "inspect"

    def __init__(self) -> None:
        self.retraining = Retraining(job="retrain-anomaly", run=_retrain, cron="0 4 * * 0")

    def load(self, model_dir: Path, *, device: str = "auto", threads: int = 0, int8: bool = False) -> Any:
        from factory_ai.anomaly.detector import AnomalyDetector

        return AnomalyDetector.load(model_dir, int8=int8, device=device, threads=threads)

    def models_in_use(self, settings: Any) -> list[str]:
        return settings.inspect.names

    def headline(self, card: dict[str, Any]) -> dict[str, float]:
        test = (card.get("metrics") or {}).get("test") or {}
        return {name: float(test[k]) for k, name in FIGURES.items() if isinstance(test.get(k), int | float)}

    def describe(self, card: dict[str, Any]) -> list[str]:
        thresholds, test = card.get("thresholds", {}), (card.get("metrics") or {}).get("test") or {}
        how = thresholds.get("method") or f"{thresholds.get('held_out_good')} held-out good parts"  # older cards
        lines = [f"threshold:  calibrated score 1.0 = raw {thresholds.get('raw_threshold', 0):.4g}, the score "
                 f"{thresholds.get('max_false_reject', 0):.1%} of good parts should reach, from {how}; review band "
                 f"{thresholds.get('review_band')}"]
        if test:
            judged = ("synthetic flaws on held-out good parts" if test.get("kind") == "synthetic"
                      else f"{test.get('n_good')} good and {test.get('n_defect')} defective test parts")
            lines.append(f"test:       image AUROC {_num(test.get('image_auroc'))} on {judged}; at the threshold "
                         f"false-reject rate {_pct(test.get('false_reject_rate'))}, escape rate "
                         f"{_pct(test.get('escape_rate'))}")
            for kind, m in (test.get("per_type") or {}).items():
                lines.append(f"            {kind}: {m['n']} parts, AUROC {_num(m.get('image_auroc'))}, escape rate "
                             f"{_pct(m.get('escape_rate'))}")
            if test.get("pixel_auroc") is not None:
                lines.append(f"            maps: pixel AUROC {_num(test['pixel_auroc'])}, PRO {_num(test.get('pro'))}")
        int8 = (card.get("metrics") or {}).get("test_int8")
        if int8:
            lines.append(f"int8:       image AUROC {_num(int8.get('image_auroc'))}")
        lines.append("plots:      scores.png (score histograms and ROC), sheet.png (highest-scoring test parts)")
        return lines

    def labels(self, card: dict[str, Any]) -> tuple[list[str], list[str], bool]:
        # A detector does not know defect types: the reviewer names them (new names welcome),
        # and those names become the classifier's classes at its next retraining.
        return ["good", "anomaly"], ["good"], True

    def drift_features(self, card: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return dict(card.get("drift_reference") or {})

    def drift_samples(self, session: Any, model: str, feature: str, since: datetime, limit: int) -> np.ndarray:
        # The score's reference is the held-out good parts: compare with the parts judged good.
        verdicts = ("pass",) if feature == "score" else None
        return inspection_samples(session, model, feature, since, limit, verdicts)

    def drift_subject(self, feature: str) -> str:
        return "anomaly score of passed parts" if feature == "score" else f"image {feature}"


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


def _pct(value: Any) -> str:
    return "-" if value is None else f"{value:.1%}"


def _retrain(kit: Any) -> dict[str, Any]:
    from factory_ai.anomaly.retrain import challenge

    return challenge(kit)


DETECTOR = Detector()
