"""Retraining the defect classifier: operator labels in, a frozen holdout, one verdict.

The holdout is chosen by each image's sha256 (the kept file's name): the same image always
falls on the same side, so the holdout never leaks into training, grows only with new labels,
and champion and challenger are judged on exactly the same images. Judging runs the exported
ONNX files in onnxruntime, as the line does: a model is judged as it will be used.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from factory_ai.family import in_holdout
from factory_ai.vision.classifier import DefectClassifier
from factory_ai.vision.images import IMAGE_SUFFIXES, read_pixels
from factory_ai.vision.metrics import evaluate


def challenge(kit) -> dict[str, Any]:  # noqa: ANN001 - a retrain.run.Kit
    """Challenge the classifier in service with one trained on the base data and every label
    operators gave since (labels of parts any inspection model on the line judged: a type named
    on an anomaly becomes a class of the challenger)."""
    from sqlalchemy import func
    from sqlmodel import select

    from factory_ai import review
    from factory_ai.store.tables import Review

    settings, cfg = kit.settings, kit.config
    name = kit.model_name()
    champion = kit.champion(name)
    since = kit.last_success()
    with kit.store.session() as session:
        labelled = review.labelled(session, model_name=list(settings.inspect.names))
        new = session.exec(select(func.count()).select_from(Review).where(
            Review.label.is_not(None), *([Review.labelled_at > since] if since else []))).one()
    if new < cfg.min_new_labels:
        raise kit.Skipped(f"{new} new labels since {'the last retrain' if since else 'the start'}; "
                          f"{cfg.min_new_labels} needed ([retrain.vision] min_new_labels)")
    work = kit.work_dir()
    data = export(labelled, settings.resolve(cfg.base_data) if cfg.base_data else None, work, cfg.holdout_percent)
    version, challenger, card = kit.challenger(name, work, data.train, None, cfg.train_args)
    threads = settings.runtime.threads
    scores = {"champion": {"version": champion.version, **score(champion.path, data.holdout, threads)},
              "challenger": {"version": version, **score(challenger.path, data.holdout, threads)}}
    promoted, reason = kit.decide(scores["champion"], scores["challenger"], card, metric="accuracy",
                                  higher_is_better=True, margin=cfg.margin, relative=False, parity=parity_ok(card),
                                  holdout=scores["champion"]["n"], min_holdout=cfg.min_holdout)
    kit.conclude(name, version, challenger.path, card, promoted, reason)
    return {"model": name, "new_labels": new, "data": data.counts, **scores, "margin": cfg.margin,
            "decision": "promoted" if promoted else "kept champion", "reason": reason, "work_dir": str(work)}


@dataclass
class Exported:
    train: Path
    holdout: Path
    counts: dict[str, int]


def export(labelled: list[tuple[str, str, int]], base_data: Path | None, work: Path, percent: float) -> Exported:
    """Lay the labelled images (and ``base_data``) out as class folders for ``factory-ai train``."""
    train, holdout = work / "train", work / "holdout"
    counts = {"labelled": 0, "holdout": 0, "missing_files": 0, "base": 0}
    for path, label, _ in labelled:
        source = Path(path)
        if not source.is_file():
            counts["missing_files"] += 1
            continue
        digest = source.name.split(".")[0]
        side = holdout if in_holdout(digest, percent) else train
        counts["holdout" if side is holdout else "labelled"] += 1
        _place(source, side / label / source.name)
    if base_data is not None:
        for source in sorted(Path(base_data).rglob("*")):
            if source.is_file() and source.suffix.lower() in IMAGE_SUFFIXES:
                relative = source.relative_to(base_data)
                _place(source, train / relative.parts[0] / f"base-{'-'.join(relative.parts[1:])}")
                counts["base"] += 1
    return Exported(train, holdout, counts)


def score(model_dir: Path, holdout: Path, threads: int = 0) -> dict[str, Any]:
    """Accuracy and macro F1 of the model in ``model_dir`` on the holdout's class folders."""
    classifier = DefectClassifier.load(model_dir, device="cpu", threads=threads)
    files = sorted(p for p in holdout.rglob("*") if p.is_file())
    truth = [p.parent.name for p in files]
    predicted: list[str] = []
    for start in range(0, len(files), 64):
        pixels = np.stack([read_pixels(p, classifier.spec) for p in files[start:start + 64]])
        predicted += [classifier.classes[i] for i in classifier.predict(pixels).labels]
    classes = sorted(set(truth) | set(classifier.classes))
    index = {c: i for i, c in enumerate(classes)}
    figures = evaluate(np.array([index[t] for t in truth]), np.array([index[p] for p in predicted]), classes)
    return {"n": figures["n"], "accuracy": round(figures["accuracy"], 4), "macro_f1": round(figures["macro_f1"], 4)}


def parity_ok(card: dict[str, Any]) -> tuple[bool, str]:
    parity = card.get("parity") or {}
    if not parity:
        return False, "the card records no torch/onnxruntime parity check"
    if parity.get("argmax_disagreements", 1) or parity.get("max_abs_diff", 1.0) > parity.get("tolerance", 0.0):
        return False, (f"parity failed: max |Δprob| {parity.get('max_abs_diff')} (limit {parity.get('tolerance')}), "
                       f"{parity.get('argmax_disagreements')} changed classes")
    return True, f"parity ok on {parity.get('images')} images (max |Δprob| {parity['max_abs_diff']:.1e})"


def _place(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        return
    try:
        os.link(source, target)  # no copy of the bytes when both sit on one file system
    except OSError:
        shutil.copy2(source, target)
