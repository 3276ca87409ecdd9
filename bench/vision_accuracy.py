"""Benchmark: defect-classifier accuracy on real steel-surface images (NEU, 6 classes x 300).

Full training with a seeded, stratified 20 % test split (10 % validation, 70 % training),
through the same pipeline as `factory-ai train vision`, and the test accuracy of the exported
ONNX model (fp32 and static int8). Target: >= 99.5 % test accuracy.

    python bench/vision_accuracy.py [--device cpu|cuda] [--epochs 60]

The model lands in var/bench/models/neu-surface (bench/inspect_speed.py uses it); the figures
are printed and written to var/bench/vision_accuracy.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TARGET = 0.995


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "neu_surface_defects")
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--patience", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"skipped: {args.data} not found (the NEU dataset lives in ../shared/datasets)")
        return 0

    import logging

    import torch

    from factory_ai.registry import Registry
    from factory_ai.runtime import cpu_threads
    from factory_ai.vision.train.fit import TrainConfig
    from factory_ai.vision.train.pipeline import VisionJob, run

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    config = TrainConfig(epochs=args.epochs, image_size=args.image_size, width=args.width, batch_size=args.batch_size,
                         lr=args.lr, patience=args.patience, seed=args.seed, device=args.device, threads=args.threads)
    job = VisionJob(data=args.data, name="neu-surface", val_fraction=0.1, test_fraction=0.2, int8=True,
                    promote=True, progress=not args.no_progress, train=config)
    start = time.perf_counter()
    outcome = run(job, Registry(args.out / "models", fallbacks=()))
    wall = time.perf_counter() - start
    card = outcome.card
    test = card["metrics"]["test"]
    training = card["training"]
    n_train = card["dataset"]["counts"]["train"]
    device = training["device"]
    hardware = torch.cuda.get_device_name(0) if device == "cuda" else f"{platform.processor() or platform.machine()}, {args.threads or cpu_threads()} threads"
    figures = {
        "model": f"{outcome.ref.name} {outcome.ref.version}",
        "test_images": test["n"],
        "test_accuracy": test["accuracy"],
        "test_errors": test["errors"],
        "int8_test_accuracy": card["metrics"]["test_int8"]["accuracy"],
        "train_seconds": training["seconds"],
        "epochs_run": training["epochs_run"],
        "best_epoch": training["best_epoch"],
        "train_images_per_second": round(n_train * training["epochs_run"] / training["seconds"], 1),
        "wall_seconds_with_export_and_eval": round(wall, 1),
        "device": device,
        "hardware": hardware,
        "config": {k: training[k] for k in ("epochs", "image_size", "width", "batch_size", "lr", "seed")},
    }
    print()
    print(outcome.summary())
    print()
    print(f"NEU test accuracy   {test['accuracy']:.2%}  ({test['errors']} errors in {test['n']} images)"
          f"   target >= {TARGET:.1%}: {'met' if test['accuracy'] >= TARGET else 'NOT met'}")
    print(f"int8 test accuracy  {figures['int8_test_accuracy']:.2%}")
    print(f"training time       {training['seconds']:.0f} s on {device} ({hardware}), {training['epochs_run']} epochs, "
          f"{figures['train_images_per_second']} images/s")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "vision_accuracy.json").write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
