"""Retraining the anomaly detector: the line's recent good parts in, a frozen holdout, one verdict.

What it learns from: parts the detector passed with a wide margin (calibrated score below
``[retrain.anomaly] pass_margin``) and parts a reviewer labelled good, whose images were kept
(``[daemon] keep_images = "all"`` keeps passed parts; the default keeps review parts only),
plus ``base_data``, the original good images. Each kept image falls in or out of the frozen
holdout by its content hash, as for the classifier.

When a challenger wins: on the holdout, its false-reject rate on good parts may rise by
``max_false_reject_rise`` at most over the champion's, and no part a reviewer labelled a defect
may be passed by the challenger that the champion did not pass. Parity and the challenger's own
gate apply, as for every family.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from factory_ai.family import in_holdout
from factory_ai.vision.images import IMAGE_SUFFIXES, read_pixels


def challenge(kit) -> dict[str, Any]:  # noqa: ANN001 - a retrain.run.Kit
    from sqlalchemy import or_
    from sqlmodel import select

    from factory_ai.registry import gate_passed
    from factory_ai.store.tables import Inspection, Review

    settings, cfg = kit.settings, kit.config
    name = kit.model_name()
    champion = kit.champion(name)
    since = kit.last_success()
    with kit.store.session() as session:
        rows = session.exec(
            select(Inspection.image_path, Inspection.verdict, Inspection.score, Review.label, Inspection.ts)
            .join(Review, Review.inspection_id == Inspection.id, isouter=True)
            .where(Inspection.model_name == name, Inspection.image_path.is_not(None),
                   or_(Review.label.is_not(None), Inspection.verdict == "pass"))).all()
    good, defects, new = [], [], 0
    for path, verdict, score, label, ts in rows:
        if label is not None and label != "good":
            defects.append(Path(path))
        elif label == "good" or (verdict == "pass" and score is not None and score < cfg.pass_margin):
            good.append(Path(path))
            new += since is None or ts > since
    if new < cfg.min_new_parts:
        raise kit.Skipped(f"{new} new good parts since {'the last retrain' if since else 'the start'}; "
                          f"{cfg.min_new_parts} needed ([retrain.anomaly] min_new_parts; passed parts are kept for "
                          "training only with [daemon] keep_images = \"all\")")
    work = kit.work_dir()
    train_dir, counts = work / "good", {"new_good": 0, "holdout_good": 0, "holdout_defects": 0, "base": 0}
    holdout_good = []
    for path in good:
        if not path.is_file():
            continue
        if in_holdout(path.name.split(".")[0], cfg.holdout_percent):
            holdout_good.append(path)
        else:
            _place(path, train_dir / path.name)
            counts["new_good"] += 1
    holdout_defects = [p for p in defects if p.is_file()]  # every reviewed defect judges; none is trained on
    counts["holdout_good"], counts["holdout_defects"] = len(holdout_good), len(holdout_defects)
    if cfg.base_data:
        base = settings.resolve(cfg.base_data)
        for source in sorted(base.rglob("*")):
            if source.is_file() and source.suffix.lower() in IMAGE_SUFFIXES:
                _place(source, train_dir / f"base-{'-'.join(source.relative_to(base).parts)}")
                counts["base"] += 1
    version, challenger, card = kit.challenger(name, work, train_dir, None, cfg.train_args)
    threads = settings.runtime.threads
    champ = _judge(champion.path, holdout_good, holdout_defects, threads)
    chall = _judge(challenger.path, holdout_good, holdout_defects, threads)
    newly_passed = [str(p) for p, a, b in zip(holdout_defects, champ["passed"], chall["passed"], strict=True)
                    if b and not a]
    scores = {"champion": {"version": champion.version, "n": len(holdout_good),
                           "false_reject_rate": champ["false_reject_rate"], "defects_passed": int(sum(champ["passed"]))},
              "challenger": {"version": version, "n": len(holdout_good),
                             "false_reject_rate": chall["false_reject_rate"],
                             "defects_passed": int(sum(chall["passed"]))}}
    parity = card.get("parity") or {}
    if len(holdout_good) < cfg.min_holdout:
        promoted, reason = False, (f"the frozen holdout has {len(holdout_good)} good parts, fewer than the "
                                   f"{cfg.min_holdout} needed to judge")
    elif not parity or parity.get("max_abs_diff", 1) > parity.get("tolerance", 0):
        promoted, reason = False, "the challenger's card records no passing torch/onnxruntime parity check"
    elif not gate_passed(card):
        promoted, reason = False, f"the challenger failed its gate before service: {card['gate'].get('sentence')}"
    elif chall["false_reject_rate"] > champ["false_reject_rate"] + cfg.max_false_reject_rise:
        promoted, reason = False, (f"champion kept: the challenger rejects {chall['false_reject_rate']:.1%} of "
                                   f"{len(holdout_good)} held-out good parts against {champ['false_reject_rate']:.1%} "
                                   f"(at most {cfg.max_false_reject_rise:.1%} more allowed)")
    elif newly_passed:
        promoted, reason = False, (f"champion kept: the challenger passes {len(newly_passed)} reviewed defect(s) the "
                                   f"champion caught ({', '.join(Path(p).name for p in newly_passed[:3])})")
    else:
        promoted, reason = True, (f"challenger wins: false-reject rate {chall['false_reject_rate']:.1%} against "
                                  f"{champ['false_reject_rate']:.1%} on {len(holdout_good)} held-out good parts, and "
                                  f"no reviewed defect newly passed ({len(holdout_defects)} judged)")
    kit.conclude(name, version, challenger.path, card, promoted, reason)
    return {"model": name, "new_good_parts": new, "data": counts, **scores, "newly_passed": newly_passed,
            "decision": "promoted" if promoted else "kept champion", "reason": reason, "work_dir": str(work)}


def _judge(model_dir: Path, good: list[Path], defects: list[Path], threads: int) -> dict[str, Any]:
    """The false-reject rate on the good parts, and per defect whether it was passed."""
    from factory_ai.anomaly.detector import AnomalyDetector

    detector = AnomalyDetector.load(model_dir, device="cpu", threads=threads)

    def verdicts(paths: list[Path]) -> list[str]:
        out = []
        for start in range(0, len(paths), 32):
            pixels = np.stack([read_pixels(p, detector.spec) for p in paths[start:start + 32]])
            out += [j.verdict for j in detector.judge(pixels)]
        return out

    good_verdicts, defect_verdicts = verdicts(good), verdicts(defects)
    return {"false_reject_rate": float(np.mean([v == "reject" for v in good_verdicts])) if good_verdicts else 0.0,
            "passed": [v == "pass" for v in defect_verdicts]}


def _place(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        return
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
