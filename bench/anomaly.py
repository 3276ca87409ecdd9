"""Benchmark: the good-only anomaly detector on every dataset with good parts, defaults only.

For each dataset (ELPV's cells in ../shared/datasets/elpv_solar_cells, the project's own
plant-like synthetic parts, and the same parts on long frames of 1,200-1,600 px, 2.5-3.5 times
as long as wide, whose canvas is past the training window), the good images are split (seeded,
near-duplicates kept together) into training and test, and the detector is trained exactly as
`factory-ai train anomaly --data GOOD --test TEST` would train it, on good images only. The
test set is the held-out good images and every defective one. Printed side by side, in one run:

- the shipped detector (synthetic-flaw segmentation, ``anomaly/train``): image AUROC, and the
  escape and false-reject rates at its shipped threshold (1 % of held-out good parts);
- a plain peer on the same images: a convolutional autoencoder's reconstruction error
  (``anomaly/train/peer.py``), same canvas, same training budget; and a second, for aligned
  parts: a Gaussian per pixel position on per-image-normalised, shrunk images;
- both also at exactly 1 % false rejects measured on the test's good parts (a threshold-free
  comparison of how well they separate);
- for ELPV, the defect classifier of bench/vision_accuracy.py (trained with labels) on its own
  test split, if that benchmark has run: AUROC of its defect probability;
- training time on this CPU, and batch-1 latency against a classifier at the same canvas.

Targets (issue 17): AUROC >= 0.95 on the synthetic parts and >= 0.90 on ELPV, escape <= 10 % at
1 % false rejects, training on 200 good images <= 10 min on 2 cores, latency <= 2x the classifier's.

    python bench/anomaly.py [--only elpv|synthetic|long] [--train-good N] [--threads 2] [--seed 0]
                            [--crop-pixels N]  (0: train on the whole canvas, as before session 33)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "datasets"


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def datasets(out: Path) -> dict[str, tuple[list[Path], dict[str, list[Path]], Path | None]]:
    """name -> (good images, defect images by type, masks folder or None)."""
    from factory_ai.samples.parts import generate
    from factory_ai.vision.images import IMAGE_SUFFIXES

    def images(folder: Path) -> list[Path]:
        return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)

    found = {}
    elpv = SHARED / "elpv_solar_cells" / "classes"
    if (elpv / "good").is_dir():
        found["elpv"] = (images(elpv / "good"), {"defective": images(elpv / "defective")}, None)
    synthetic = out / "synthetic"
    if not (synthetic / "parts").is_dir():
        generate(synthetic / "parts", {"good": 400, "scratch": 30, "spot": 30, "crack": 30, "pit": 30, "stain": 30},
                 seed=17, masks=synthetic / "masks")
    found["synthetic"] = (images(synthetic / "parts" / "good"),
                          {k: images(synthetic / "parts" / k) for k in ("scratch", "spot", "crack", "pit", "stain")},
                          synthetic / "masks")
    long = out / "long"
    if not (long / "parts").is_dir():
        generate(long / "parts", {"good": 400, "scratch": 30, "spot": 30, "crack": 30, "pit": 30, "stain": 30},
                 sides=(1200, 1600), aspect=(2.5, 3.5), seed=23, masks=long / "masks")
    found["long"] = (images(long / "parts" / "good"),
                     {k: images(long / "parts" / k) for k in ("scratch", "spot", "crack", "pit", "stain")},
                     long / "masks")
    return found


def position_gaussian(train: np.ndarray, tests: list[np.ndarray], side: int = 64, pool: int = 4) -> list[np.ndarray]:
    """A second plain peer, for aligned parts: every image normalised by its own mean and spread,
    shrunk to ``side`` pixels on its long side, a Gaussian per pixel position fitted on the good
    training images, and the image's score the highest mean z² over ``pool`` x ``pool`` cells."""
    from PIL import Image

    def prepare(pixels: np.ndarray) -> np.ndarray:
        out = []
        for image in pixels:
            grey = image.mean(axis=0) if image.ndim == 3 else image
            h, w = grey.shape
            scale = side / max(h, w)
            small = np.asarray(Image.fromarray(grey.astype(np.float32)).resize(
                (max(pool, round(w * scale) // pool * pool), max(pool, round(h * scale) // pool * pool)),
                Image.BILINEAR), np.float64)
            out.append((small - small.mean()) / (small.std() + 1e-6))
        return np.stack(out)

    x = prepare(train)
    mean, spread = x.mean(axis=0), x.std(axis=0) + 0.1

    def score(pixels: np.ndarray) -> np.ndarray:
        z = ((prepare(pixels) - mean) / spread) ** 2
        n, h, w = z.shape
        cells = z.reshape(n, h // pool, pool, w // pool, pool).mean(axis=(2, 4))
        return cells.reshape(n, -1).max(axis=1)

    return [score(t) for t in tests]


def escape_at(good: np.ndarray, bad: np.ndarray, false_reject: float = 0.01) -> float:
    threshold = np.quantile(good, 1 - false_reject, method="higher")
    return float((bad <= threshold).mean())


def latency(model_path: Path, pixels: np.ndarray, threads: int, runs: int = 60) -> float:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    for _ in range(5):
        session.run(None, {name: pixels})
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, {name: pixels})
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def classifier_at(height: int, width: int, channels: int, folder: Path) -> Path:
    """An (untrained) default classifier exported at this canvas: latency does not depend on the weights."""
    import torch

    from factory_ai.vision.train.export import export_onnx
    from factory_ai.vision.train.fit import TrainConfig, TrainedClassifier
    from factory_ai.vision.train.network import SurfaceNet

    network = SurfaceNet(2, channels, 32, stem_stride=4 if min(height, width) >= 128 else 2, pool="avgmax").eval()
    trained = TrainedClassifier(network=network, classes=["a", "b"], channels=channels, height=height, width=width,
                                mean=[0.5] * channels, std=[0.25] * channels, config=TrainConfig(), device="cpu",
                                seconds=0, best_epoch=0)
    path = folder / "classifier.onnx"
    torch.manual_seed(0)
    export_onnx(trained, path)
    return path


def elpv_classifier_auroc(models: Path) -> float | None:
    """The ELPV classifier of bench/vision_accuracy.py on its own test split: AUROC of P(defective)."""
    from factory_ai.anomaly.metrics import auroc
    from factory_ai.registry import Registry
    from factory_ai.vision.classifier import DefectClassifier
    from factory_ai.vision.images import read_pixels

    try:
        ref = Registry(models, fallbacks=()).resolve("elpv-solar-cells")
    except Exception:  # noqa: BLE001 - the vision benchmark has not run
        return None
    split = json.loads((ref.path / "split.json").read_text())
    root = Path(split["roots"]["data"])
    classifier = DefectClassifier.load(ref.path, device="cpu")
    files = split["files"]["test"]
    pixels = np.stack([read_pixels(root / f["path"], classifier.spec) for f in files])
    p_bad = np.concatenate([classifier.predict(pixels[i:i + 32]).probabilities[:, classifier.classes.index("defective")]
                            for i in range(0, len(pixels), 32)])
    truth = np.array([f["label"] == "defective" for f in files])
    return auroc(p_bad[~truth], p_bad[truth])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--only", action="append", default=[])
    parser.add_argument("--train-good", type=int, default=0, help="train on this many good images (0: all but the "
                        "test share)")
    parser.add_argument("--test-share", type=float, default=0.2)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--seed", type=int, default=0, help="seeds the test split and the training (repeat with "
                        "another to see how much a figure moves)")
    parser.add_argument("--crop-pixels", type=int, default=None, help="the training window's area (default: the "
                        "detector's; 0 trains on the whole canvas)")
    args = parser.parse_args()

    from factory_ai.anomaly.detector import AnomalyDetector
    from factory_ai.anomaly.metrics import auroc
    from factory_ai.anomaly.train.fit import AnomalyConfig
    from factory_ai.anomaly.train.peer import fit_and_score
    from factory_ai.anomaly.train.pipeline import AnomalyJob, run
    from factory_ai.registry import Registry
    from factory_ai.runtime import cpu_threads
    from factory_ai.vision import folders
    from factory_ai.vision.images import read_pixels

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    threads = args.threads or cpu_threads()
    crop = {} if args.crop_pixels is None else {"crop_pixels": args.crop_pixels}
    rows = []
    for name, (good, defects, masks) in datasets(args.out).items():
        if args.only and name not in args.only:
            continue
        print(f"\n== {name}: {len(good)} good images, defects {', '.join(f'{k} {len(v)}' for k, v in defects.items())}",
              flush=True)
        groups = folders.near_duplicates(good)
        rng = np.random.default_rng(args.seed)
        test_good, train_good = [], []
        for index in rng.permutation(len(groups)):
            members = [good[i] for i in groups[index]]
            (test_good if len(test_good) < args.test_share * len(good) else train_good).extend(members)
        if args.train_good:
            train_good = [train_good[i] for i in sorted(rng.permutation(len(train_good))[:args.train_good])]
        work = args.out / "anomaly" / name
        shutil.rmtree(work, ignore_errors=True)
        for p in train_good:
            _link(p, work / "train" / p.name)
        for p in test_good:
            _link(p, work / "test" / "good" / p.name)
        for kind, paths in defects.items():
            for p in paths:
                _link(p, work / "test" / kind / p.name)
        job = AnomalyJob(data=work / "train", name=f"{name}-anomaly", test=work / "test", masks=masks,
                         promote=True, progress=False,
                         train=AnomalyConfig(threads=threads, seed=args.seed, **crop))
        start = time.perf_counter()
        outcome = run(job, Registry(args.out / "models", fallbacks=()))
        wall = time.perf_counter() - start
        print(outcome.summary(), flush=True)
        card, test = outcome.card, outcome.card["metrics"]["test"]
        detector = AnomalyDetector.load(outcome.ref.path, device="cpu", threads=threads)
        spec = detector.spec

        def pixels(paths: list[Path], spec=spec) -> np.ndarray:  # noqa: ANN001
            return np.stack([read_pixels(p, spec) for p in paths])

        good_px = pixels(test_good)
        bad_px = pixels([p for ps in defects.values() for p in ps])
        good_s = np.concatenate([detector.detect(good_px[i:i + 32]).scores for i in range(0, len(good_px), 32)])
        bad_s = np.concatenate([detector.detect(bad_px[i:i + 32]).scores for i in range(0, len(bad_px), 32)])
        row = {"dataset": name, "train_good": len(train_good), "test_good": len(test_good), "test_defects": len(bad_s),
               "canvas": f"{spec.width}x{spec.height}", "auroc": test["image_auroc"],
               "escape_at_threshold": test["escape_rate"], "false_reject_at_threshold": test["false_reject_rate"],
               "escape_at_1pct": escape_at(good_s, bad_s), "pixel_auroc": test.get("pixel_auroc"), "pro": test.get("pro"),
               "train_seconds": card["training"]["seconds"], "wall_seconds": round(wall, 1),
               "gate": "in service" if outcome.promoted else "refused", "crop_pixels": card["training"]["crop_pixels"],
               "best_epoch": card["training"].get("best_epoch")}
        if not args.no_peer:
            train_px = pixels(train_good)
            (peer_good, peer_bad), peer_seconds = fit_and_score(train_px, [good_px, bad_px], threads=threads,
                                                                seed=args.seed)
            row.update(peer_auroc=auroc(peer_good, peer_bad), peer_escape_at_1pct=escape_at(peer_good, peer_bad),
                       peer_train_seconds=round(peer_seconds, 1))
            gauss_good, gauss_bad = position_gaussian(train_px, [good_px, bad_px])
            row.update(position_gaussian_auroc=auroc(gauss_good, gauss_bad),
                       position_gaussian_escape_at_1pct=escape_at(gauss_good, gauss_bad))
        with tempfile.TemporaryDirectory() as tmp:
            one = good_px[:1]
            row["latency_ms"] = latency(outcome.ref.path / "model.onnx", one, threads)
            row["classifier_latency_ms"] = latency(classifier_at(spec.height, spec.width, spec.channels, Path(tmp)),
                                                   one, threads)
        if name == "elpv":
            row["classifier_auroc"] = elpv_classifier_auroc(args.out / "models")
        rows.append(row)
        print(json.dumps(row), flush=True)

    def num(v: float | None, fmt: str = ".3f") -> str:
        return "-" if v is None else format(v, fmt)

    print(f"\nanomaly detection from good parts only, default options (CPU, {threads} threads):")
    head = (f"{'dataset':<10} {'train':>5} {'test g/d':>9} {'canvas':>8} {'AUROC':>6} {'esc@thr':>7} {'frr@thr':>7} "
            f"{'esc@1%':>7} {'peer AUROC':>10} {'peer esc@1%':>11} {'train s':>7} {'ms b1':>6} {'clf ms':>6}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['dataset']:<10} {r['train_good']:>5} {r['test_good']:>4}/{r['test_defects']:<4} {r['canvas']:>8} "
              f"{num(r['auroc']):>6} {num(r['escape_at_threshold'], '.1%'):>7} {num(r['false_reject_at_threshold'], '.1%'):>7} "
              f"{num(r['escape_at_1pct'], '.1%'):>7} {num(r.get('peer_auroc')):>10} "
              f"{num(r.get('peer_escape_at_1pct'), '.1%'):>11} {r['train_seconds']:>7.0f} {r['latency_ms']:>6.1f} "
              f"{r['classifier_latency_ms']:>6.1f}")
    for r in rows:
        extra = []
        if r.get("pixel_auroc") is not None:
            extra.append(f"pixel AUROC {r['pixel_auroc']:.3f}, PRO {num(r['pro'])}")
        if r.get("position_gaussian_auroc") is not None:
            extra.append(f"peer 2, a Gaussian per pixel position on per-image-normalised pixels: AUROC "
                         f"{r['position_gaussian_auroc']:.3f}, escape at 1 % false rejects "
                         f"{r['position_gaussian_escape_at_1pct']:.1%}")
        if r.get("classifier_auroc") is not None:
            extra.append(f"the labelled classifier (bench/vision_accuracy.py) on its test split: AUROC "
                         f"{r['classifier_auroc']:.3f}")
        extra.append(f"gate: {r['gate']}")
        print(f"{r['dataset']}: " + "; ".join(extra))
    (args.out / "anomaly.json").write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
