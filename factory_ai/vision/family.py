"""The defect classifier as a model family (see ``factory_ai.family``): line side only."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from factory_ai.family import Family, Retraining

FIGURES = {"accuracy": "accuracy", "balanced_accuracy": "balanced accuracy", "macro_f1": "macro-F1",
           "escape_rate": "escape rate", "false_reject_rate": "false-reject rate"}


class Classifier(Family):
    id = "vision-classifier"
    key = "vision"
    title = "defect classifier"
    train_command = "vision"
    role = "inspect"

    def __init__(self) -> None:
        self.retraining = Retraining(job="retrain-vision", run=_retrain)

    def load(self, model_dir: Path, *, device: str = "auto", threads: int = 0, int8: bool = False) -> Any:
        from factory_ai.vision.classifier import DefectClassifier

        return DefectClassifier.load(model_dir, int8=int8, device=device, threads=threads)

    def models_in_use(self, settings: Any) -> list[str]:
        return settings.inspect.names

    def headline(self, card: dict[str, Any]) -> dict[str, float]:
        test = (card.get("metrics") or {}).get("test") or {}
        return {name: float(test[k]) for k, name in FIGURES.items() if isinstance(test.get(k), int | float)}

    def figure(self, card: dict[str, Any]) -> str:
        test = (card.get("metrics") or {}).get("test") or {}
        if not isinstance(test.get("accuracy"), int | float):
            return "-"
        balanced = test.get("balanced_accuracy")
        return f"{test['accuracy']:.2%}" + (f" bal {balanced:.2%}" if isinstance(balanced, int | float) else "")

    def describe(self, card: dict[str, Any]) -> list[str]:
        lines = [f"classes:    {', '.join(card.get('classes', []))}",
                 f"pass:       {', '.join(card.get('good_classes') or []) or '(none: the verdict is the class)'}"]
        test = (card.get("metrics") or {}).get("test") or {}
        if "accuracy" in test:
            balanced = f", balanced accuracy {test['balanced_accuracy']:.2%}" if "balanced_accuracy" in test else ""
            lines.append(f"test:       accuracy {test['accuracy']:.2%}{balanced}, macro F1 {test['macro_f1']:.3f} "
                         f"on {test['n']} images")
            if "baseline" in test:
                base = test["baseline"]
                lines.append(f"            (always the commonest class: accuracy {base['accuracy']:.2%}, balanced "
                             f"accuracy {base['balanced_accuracy']:.2%}, macro F1 {base['macro_f1']:.3f})")
            for key in ("escape_rate", "false_reject_rate"):
                if test.get(key) is not None:
                    lines.append(f"            {key.replace('_', ' ')} {test[key]:.2%}")
            support = (card.get("training") or {}).get("support", {})
            for name, m in test.get("per_class", {}).items():
                lines.append(f"            {name}: recall {m['recall']:.2f}, F1 {m['f1']:.2f}, {m['support']} test images"
                             + (f", {support[name]} training images" if name in support else ""))
        for text in (card.get("training") or {}).get("support_warnings", []):
            lines.append(f"warning:    {text}")
        learning = (card.get("training") or {}).get("learning")
        if learning:
            lines.append(f"learning:   best training loss {learning['best_train_loss']:.3f} against the class-prior "
                         f"entropy {learning['prior_entropy']:.3f} ({'learned' if learning['learned'] else 'DID NOT LEARN'}"
                         f"; {len(learning['attempts'])} attempt(s))")
        int8 = (card.get("metrics") or {}).get("test_int8")
        if int8:
            lines.append(f"int8:       accuracy {int8['accuracy']:.2%}")
        return lines

    def drift_features(self, card: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return dict(card.get("drift_reference") or {})

    def drift_samples(self, session: Any, model: str, feature: str, since: datetime, limit: int) -> np.ndarray:
        return inspection_samples(session, model, feature, since, limit)

    def drift_subject(self, feature: str) -> str:
        return f"image {feature}"


def inspection_samples(session: Any, model: str, feature: str, since: datetime, limit: int,
                       verdicts: tuple[str, ...] | None = None) -> np.ndarray:
    """A column of the inspections judged by ``model`` since ``since`` (newest first)."""
    from sqlmodel import select

    from factory_ai.store.tables import Inspection

    column = getattr(Inspection, feature)
    query = select(column).where(Inspection.model_name == model, Inspection.ts >= since, column.is_not(None))
    if verdicts:
        query = query.where(Inspection.verdict.in_(verdicts))
    rows = session.exec(query.order_by(Inspection.ts.desc()).limit(limit)).all()
    return np.asarray(rows, dtype=np.float64)


def _retrain(kit: Any) -> dict[str, Any]:
    from factory_ai.vision.retrain import challenge

    return challenge(kit)


CLASSIFIER = Classifier()
