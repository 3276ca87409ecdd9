"""Benchmark: the defect classifier on every real image dataset in ../shared/datasets, defaults only.

Each dataset is trained exactly as `factory-ai train vision --data DIR --name NAME` would train
it (default options: geometry chosen from the data, seeded split grouped by near-duplicates,
the gate before service), plus the project's own plant-like synthetic parts (frames of any
size, faint flaws, 63 % good). One table comes out: dataset, classes, images, input geometry,
accuracy, balanced accuracy, macro-F1, escape and false-reject rates, training time, and
whether the gate let the model into service.

A dataset is found where a folder holds class sub-folders of images, or a `classes/` folder
that does (ELPV). A folder `uncertain/` beside it (ELPV's cells graded 1/3 and 2/3) is judged
by the trained model, and the share flagged defective (or sent to review) is reported.

Targets (issue 16): NEU accuracy >= 99.5 %; ELPV macro-F1 >= 0.90 with escape and false-reject
rates <= 5 %.

    python bench/vision_accuracy.py [--only neu_surface_defects] [--device cpu|cuda] [--threads 2]

Models land in var/bench/models/<dataset> (bench/inspect_speed.py uses neu-surface); the figures
are written to var/bench/vision_accuracy.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "datasets"
# The registry names; NEU keeps the name bench/inspect_speed.py looks for.
NAMES = {"neu_surface_defects": "neu-surface"}
TARGETS = {"neu_surface_defects": {"accuracy": 0.995},
           "elpv_solar_cells": {"macro_f1": 0.90, "escape_rate_max": 0.05, "false_reject_rate_max": 0.05}}


def find_datasets(root: Path) -> dict[str, Path]:
    """Folders that hold an ImageFolder layout (class folders of images), by dataset name."""
    from factory_ai.vision.images import IMAGE_SUFFIXES

    def is_image_folder(folder: Path) -> bool:
        classes = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
        with_images = [c for c in classes if any(f.suffix.lower() in IMAGE_SUFFIXES for f in c.iterdir())]
        return len(with_images) >= 2

    found = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        for candidate in (folder / "classes", folder):
            if candidate.is_dir() and is_image_folder(candidate):
                found[folder.name] = candidate
                break
    return found


def judge_uncertain(model_dir: Path, folder: Path, threads: int) -> dict[str, dict[str, float]]:
    """Share of each uncertain grade the model rejects, passes or sends to review."""
    from factory_ai.vision.classifier import DefectClassifier
    from factory_ai.vision.inspect import collect, judge

    classifier = DefectClassifier.load(model_dir, device="cpu", threads=threads)
    out = {}
    for grade in sorted(p for p in folder.iterdir() if p.is_dir()):
        files, _ = collect([str(grade)])
        verdicts = [r.verdict for batch in judge(files, classifier, batch=32) for r in batch]
        n = len(verdicts)
        out[grade.name] = {"n": n, **{v: round(verdicts.count(v) / n, 3) for v in ("reject", "review", "pass")}}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=SHARED)
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--only", action="append", default=[], help="dataset name (repeatable); 'synthetic' for "
                        "the project's plant-like parts")
    parser.add_argument("--no-synthetic", action="store_true", help="skip the project's synthetic parts")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args()

    import torch

    from factory_ai.registry import Registry
    from factory_ai.runtime import cpu_threads
    from factory_ai.samples.parts import generate
    from factory_ai.vision.train.fit import TrainConfig
    from factory_ai.vision.train.pipeline import VisionJob, run

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    datasets = find_datasets(args.datasets)
    if not args.no_synthetic:
        synthetic = args.out / "synthetic-parts"
        if not synthetic.is_dir():
            generate(synthetic)
        datasets["synthetic"] = synthetic
    if args.only:
        datasets = {k: v for k, v in datasets.items() if k in args.only}
    if not datasets:
        print(f"skipped: no image datasets under {args.datasets}")
        return 0
    threads = args.threads or cpu_threads()
    registry = Registry(args.out / "models", fallbacks=())
    rows = []
    for name, folder in datasets.items():
        print(f"\n== {name}: {folder}", flush=True)
        config = TrainConfig(device=args.device, threads=threads)  # every other option at its default
        job = VisionJob(data=folder, name=NAMES.get(name, name.replace("_", "-")), int8=True, promote=True,
                        progress=args.progress, train=config)
        start = time.perf_counter()
        outcome = run(job, registry)
        wall = time.perf_counter() - start
        print(outcome.summary(), flush=True)
        card, test = outcome.card, outcome.evaluation
        size = card["input"]["image_size"]
        row = {"dataset": name, "classes": len(card["classes"]), "images": sum(card["dataset"]["counts"].values()),
               "geometry": f"{size[1]}x{size[0]} {card['input']['fit']}", "test_images": test["n"],
               "accuracy": test["accuracy"], "balanced_accuracy": test["balanced_accuracy"],
               "macro_f1": test["macro_f1"], "escape_rate": test.get("escape_rate"),
               "false_reject_rate": test.get("false_reject_rate"), "train_seconds": card["training"]["seconds"],
               "wall_seconds": round(wall, 1), "epochs_run": card["training"]["epochs_run"],
               "gate": "in service" if outcome.promoted else "refused", "gate_sentence": card["gate"]["sentence"],
               "int8_accuracy": card["metrics"].get("test_int8", {}).get("accuracy"),
               "device": card["training"]["device"], "model": str(outcome.ref.path)}
        uncertain = folder.parent / "uncertain"
        if folder.name == "classes" and uncertain.is_dir():
            row["uncertain"] = judge_uncertain(outcome.ref.path, uncertain, threads)
        rows.append(row)

    hardware = torch.cuda.get_device_name(0) if rows[0]["device"] == "cuda" else f"CPU, {threads} threads"
    print(f"\nvision classifier, default options ({hardware}):")
    head = (f"{'dataset':<22} {'cls':>3} {'images':>6} {'geometry':>17} {'acc':>7} {'bal.acc':>7} {'mF1':>6} "
            f"{'escape':>7} {'f.rej':>7} {'train s':>8} {'gate':>10}")
    print(head)
    print("-" * len(head))

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:.1%}"

    for r in rows:
        print(f"{r['dataset']:<22} {r['classes']:>3} {r['images']:>6} {r['geometry']:>17} {pct(r['accuracy']):>7} "
              f"{pct(r['balanced_accuracy']):>7} {r['macro_f1']:>6.3f} {pct(r['escape_rate']):>7} "
              f"{pct(r['false_reject_rate']):>7} {r['train_seconds']:>8.0f} {r['gate']:>10}")
    for r in rows:
        for grade, share in (r.get("uncertain") or {}).items():
            print(f"{r['dataset']} uncertain/{grade} ({share['n']} cells): rejected {share['reject']:.0%}, "
                  f"review {share['review']:.0%}, passed {share['pass']:.0%}")
        target = TARGETS.get(r["dataset"])
        if target:
            met = all(r[k] >= v for k, v in target.items() if not k.endswith("_max")) and all(
                (r[k[:-4]] or 0) <= v for k, v in target.items() if k.endswith("_max"))
            print(f"{r['dataset']} target {target}: {'met' if met else 'NOT met'}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "vision_accuracy.json").write_text(json.dumps({"hardware": hardware, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
