"""``factory-ai train vision``: from a labelled folder to a registered, verified model version.

The steps, in order: scan and hash the images, split them (or take the given test folder),
choose the input geometry from the images' sizes, decode them with the line side's own
pre-processing, fit, export to ONNX, check parity, evaluate the exported file (not the torch
network: the numbers describe what ships), hold the figures against the gate before service,
optionally quantise to int8 and evaluate that too, then write the card and move the finished
version folder into the registry in one rename. A failure at any step leaves no half version;
a version that fails the gate is registered but not put in service.
"""

from __future__ import annotations

import csv
import json
import logging
import platform
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from factory_ai import __version__
from factory_ai.errors import DataError
from factory_ai.reference import summarize
from factory_ai.registry import ModelRef, Registry, artifact_entry, write_card
from factory_ai.store.types import utcnow
from factory_ai.vision import folders, gate, geometry
from factory_ai.vision.classifier import FAMILY, DefectClassifier
from factory_ai.vision.curves import plot_curves
from factory_ai.vision.images import InputSpec, is_grey, open_image, read_pixels
from factory_ai.vision.metrics import evaluate, plot_confusion, summary
from factory_ai.vision.train.export import HEATMAP, INPUT, PROBS, check_parity, export_onnx
from factory_ai.vision.train.fit import PixelSet, TrainConfig, TrainedClassifier, fit
from factory_ai.vision.train.network import CHECKPOINT, save_network

log = logging.getLogger(__name__)
GOOD_DEFAULTS = ("good", "ok")


@dataclass
class VisionJob:
    data: Path
    name: str
    test: Path | None = None
    good: list[str] = field(default_factory=list)
    channels: str = "auto"  # auto, 1 or 3
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    review_below: float = 0.6
    int8: bool = False
    calibration_images: int = 200
    promote: bool = False
    force: bool = False  # promote past a failed gate (recorded in the history)
    limits: gate.Limits = field(default_factory=gate.Limits)
    progress: bool = True
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass
class VisionOutcome:
    ref: ModelRef
    card: dict[str, Any]
    evaluation: dict[str, Any]
    promoted: bool
    trained: TrainedClassifier  # the torch network, for benchmarks and checks beside the ONNX file

    @property
    def gate_passed(self) -> bool:
        return bool(self.card["gate"]["passed"])

    def summary(self) -> str:
        lines = [f"model {self.ref.name} {self.ref.version} -> {self.ref.path}",
                 f"input: {self.card['input']['image_size'][1]} x {self.card['input']['image_size'][0]} canvas "
                 f"({self.card['input']['fit']}), chosen from {self.card['input']['geometry']['rule']}",
                 summary(self.evaluation)]
        lines += [f"warning: {text}" for text in self.card["training"].get("support_warnings", [])]
        int8 = self.card["metrics"].get("test_int8")
        if int8:
            lines.append(f"int8: accuracy {int8['accuracy']:.2%} (fp32 {self.evaluation['accuracy']:.2%})")
        lines.append(
            f"parity torch/onnxruntime: max |Δprob| {self.card['parity']['max_abs_diff']:.1e} "
            f"on {self.card['parity']['images']} images"
        )
        lines.append(
            f"trained on {self.card['training']['device']} in {self.card['training']['seconds']:.0f} s, "
            f"best epoch {self.card['training']['best_epoch']}; learning curves in {self.ref.path / 'curves.png'}"
        )
        learning = self.card["training"]["learning"]
        if len(learning["attempts"]) > 1:
            lines.append(f"the loss stalled at the class prior {len(learning['attempts']) - 1} time(s); "
                         f"restarted at learning rate {learning['attempts'][-1]['lr']:.2g}")
        lines.append(("gate: " if self.gate_passed else "GATE FAILED: ") + self.card["gate"]["sentence"])
        if self.promoted:
            lines.append("now current (in service)" + ("; forced past the failed gate" if not self.gate_passed else ""))
        elif self.gate_passed:
            lines.append(f"not in service yet: factory-ai models promote {self.ref.name} {self.ref.version}")
        else:
            lines.append(f"not in service; registered as {self.ref.name} {self.ref.version} to be looked at "
                         f"(factory-ai models promote {self.ref.name} {self.ref.version} --force overrides the gate)")
        return "\n".join(lines)


def run(job: VisionJob, registry: Registry) -> VisionOutcome | None:
    samples = folders.scan(job.data)
    classes = folders.classes_of(samples)
    if len(classes) < 2:
        raise DataError(f"{job.data}: one class only ({classes[0]}); a classifier needs at least two")
    if job.test is not None:
        test_samples = folders.scan(job.test)
        unknown = sorted({s.label for s in test_samples} - set(classes))
        if unknown:
            raise DataError(f"{job.test}: classes {unknown} do not exist in {job.data}")
        split = folders.holdout(samples, test_samples, val=job.val_fraction, seed=job.train.seed)
        fractions = {"val": job.val_fraction}
        roots = {"data": job.data, "test": job.test}
        samples = samples + test_samples  # the fingerprint covers both folders
    else:
        split = folders.split(samples, val=job.val_fraction, test=job.test_fraction, seed=job.train.seed)
        fractions = {"val": job.val_fraction, "test": job.test_fraction}
        roots = {"data": job.data}
    good = _good_classes(job.good, classes)
    for part, members in split.parts().items():
        log.info("%s: %d images (%s)", part, len(members),
                 ", ".join(f"{k} {v}" for k, v in folders.counts(members).items()))

    support = folders.counts(split.train)
    for text in gate.support_warnings(support):
        log.warning(text)

    channels = _channels(job.channels, split.train)
    choice = geometry.choose(geometry.sizes_of([s.path for s in split.train]), long_side=job.train.image_size)
    log.info("input geometry: %d x %d canvas (width x height), %s; images %s", choice.width, choice.height,
             choice.fit, choice.facts)
    spec = InputSpec(channels, choice.height, choice.width, choice.fit)
    train_set, val_set, test_set = (_pixels(part, classes, spec) for part in (split.train, split.val, split.test))
    trained = fit(train_set, val_set, classes, job.train, progress=job.progress)
    if not trained.world.main:  # under torchrun, rank 0 exports and registers; the others are done
        return None

    ref, card, promoted = registry.publish(
        job.name,
        lambda version, staging: _build(job, trained, version, staging, split, roots, fractions, samples, good,
                                        train_set, test_set, choice, support),
        promote=job.promote, force=job.force)
    return VisionOutcome(ref=ref, card=card, evaluation=card["metrics"]["test"], promoted=promoted, trained=trained)


def _build(
    job: VisionJob, trained: TrainedClassifier, version: str, staging: Path, split: folders.Split,
    roots: dict[str, Path], fractions: dict[str, float], samples: list[folders.Sample], good: list[str],
    train_set: PixelSet, test_set: PixelSet, choice: geometry.Choice, support: dict[str, int],
) -> dict[str, Any]:
    import onnxruntime
    import torch

    onnx_path = staging / "model.onnx"
    export_facts = export_onnx(trained, onnx_path)
    parity = check_parity(trained, onnx_path, test_set.pixels)
    card: dict[str, Any] = {
        "schema_version": 1,
        "name": job.name,
        "version": version,
        "family": FAMILY,
        "created_at": utcnow().isoformat(),
        "description": "Defect classifier (SurfaceNet CNN with class-activation heatmap)",
        "classes": trained.classes,
        "good_classes": good,
        "verdicts": "pass/reject by good_classes" if good else "the predicted class (no good class)",
        "input": {"name": INPUT, "dtype": "uint8", "layout": "NCHW", "channels": trained.channels,
                  "image_size": [trained.height, trained.width],
                  "color_mode": "L" if trained.channels == 1 else "RGB",
                  "fit": choice.fit,
                  "resize": "PIL bilinear, aspect ratio kept, the rest of the canvas mirrored from the image's border"
                  if choice.fit == geometry.LETTERBOX else "PIL bilinear to image_size, aspect ratio not kept",
                  "geometry": choice.facts},
        "normalisation": {"in_graph": True, "formula": "(pixels / 255 - mean) / std",
                          "mean": trained.mean, "std": trained.std},
        "outputs": {"probabilities": PROBS, "heatmap": HEATMAP},
        "thresholds": {"review_below": job.review_below},
        "metrics": {},
        "parity": parity,
        "dataset": {
            "fingerprint": folders.fingerprint(samples),
            "roots": {k: str(v) for k, v in roots.items()},
            "counts": {part: len(members) for part, members in split.parts().items()},
            "split_file": "split.json",
        },
        "training": {**trained.config.as_dict(), "device": trained.device, "seconds": round(trained.seconds, 1),
                     "best_epoch": trained.best_epoch, "epochs_run": len(trained.history),
                     "processes": trained.world.size,
                     "network": f"SurfaceNet(width={trained.config.width}, stem_stride={trained.network.stem_stride}, "
                                f"pool={trained.network.pool_mode})",
                     "parameters": sum(p.numel() for p in trained.network.parameters()),
                     "learning": trained.learning,
                     "support": support,
                     "support_warnings": gate.support_warnings(support)},
        "export": export_facts,
        "artifacts": {"model.onnx": artifact_entry(onnx_path, "fp32")},
        "versions": {"factory_ai": __version__, "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
                     "onnx": _version("onnx"), "python": platform.python_version()},
    }
    write_card(staging, card)
    fp32_eval, confidences = _evaluate(staging, "model.onnx", test_set, trained.classes, good)
    card["metrics"]["test"] = fp32_eval
    verdict = gate.judge(fp32_eval, job.limits, learned=trained.learned, train_support=support,
                         geometry=f"{trained.width} x {trained.height} for images of median size "
                         f"{choice.facts['median_size'][0]} x {choice.facts['median_size'][1]}")
    card["gate"] = {**verdict.as_dict(), "limits": asdict(job.limits), "sentence": verdict.sentence()}
    card["drift_reference"] = _drift_reference(train_set, confidences)
    plot_confusion(fp32_eval, staging / "confusion.png", f"{job.name} {version}: confusion matrix (test split)")

    if job.int8:
        from factory_ai.vision.train.quantize import quantize_int8

        # Calibrate on training images only (a seeded sample), never on the test split.
        rng = np.random.default_rng(job.train.seed)
        calibration = train_set.pixels[np.sort(rng.permutation(len(train_set))[: job.calibration_images])]
        int8_path = staging / "model.int8.onnx"
        card["quantization"] = quantize_int8(onnx_path, int8_path, INPUT, calibration)
        card["artifacts"]["model.int8.onnx"] = artifact_entry(int8_path, "int8")
        write_card(staging, card)
        int8_eval, _ = _evaluate(staging, "model.int8.onnx", test_set, trained.classes, good)
        card["metrics"]["test_int8"] = {k: int8_eval[k] for k in ("n", "accuracy", "errors", "macro_f1",
                                                                  "balanced_accuracy")}
        card["metrics"]["test_int8"]["accuracy_drop_points"] = round(100 * (fp32_eval["accuracy"] - int8_eval["accuracy"]), 3)

    card["metrics"]["val_loss_best"] = min(h["val_loss"] for h in trained.history)
    save_network(trained.network, str(staging / CHECKPOINT), num_classes=len(trained.classes),
                 channels=trained.channels, width=trained.config.width, mean=trained.mean, std=trained.std)
    card["training"]["checkpoint"] = CHECKPOINT
    write_card(staging, card)
    (staging / "split.json").write_text(
        json.dumps(split.describe(roots, job.train.seed, fractions), indent=1) + "\n", encoding="utf-8"
    )
    (staging / "evaluation.json").write_text(json.dumps(card["metrics"], indent=2) + "\n", encoding="utf-8")
    _write_history(trained.history, staging, f"{job.name} {version}: learning curves",
                   trained.learning.get("prior_entropy"))
    return card


def _evaluate(folder: Path, artifact: str, test_set: PixelSet, classes: list[str],
              good: list[str]) -> tuple[dict[str, Any], np.ndarray]:
    """The exported model's figures on the test split, and its top-class confidence per image."""
    classifier = DefectClassifier.load(folder, int8=artifact != "model.onnx", device="cpu")
    probabilities = np.concatenate(
        [classifier.predict(test_set.pixels[i : i + 64]).probabilities for i in range(0, len(test_set), 64)]
    )
    return evaluate(test_set.labels, probabilities.argmax(1), classes, good), probabilities.max(1)


def _drift_reference(train_set: PixelSet, confidences: np.ndarray) -> dict[str, Any]:
    """What the drift job compares live inspections with: input brightness and contrast of the
    training images, and the model's confidence on the test split."""
    flat = train_set.pixels.reshape(len(train_set), -1).astype(np.float32) / 255.0
    found = {"brightness": summarize(flat.mean(1)), "contrast": summarize(flat.std(1)),
             "confidence": summarize(confidences)}
    return {k: v for k, v in found.items() if v is not None}


def _pixels(samples: list[folders.Sample], classes: list[str], spec: InputSpec) -> PixelSet:
    if not samples:
        return PixelSet(np.zeros((0, spec.channels, spec.height, spec.width), np.uint8), np.zeros(0, np.int64))

    def load(sample: folders.Sample) -> np.ndarray:
        try:
            return read_pixels(sample.path, spec)
        except Exception as exc:
            raise DataError(f"{sample.path}: {exc}") from None

    with ThreadPoolExecutor(max_workers=4) as pool:
        pixels = np.stack(list(pool.map(load, samples)))
    labels = np.array([classes.index(s.label) for s in samples], dtype=np.int64)
    return PixelSet(pixels, labels)


def _channels(choice: str, train: list[folders.Sample]) -> int:
    if choice in ("1", "3"):
        return int(choice)
    probe = train[:: max(1, len(train) // 64)][:64]
    grey = all(is_grey(open_image(s.path.read_bytes())) for s in probe)
    log.info("images look %s: training a %s model", "grey" if grey else "colour", "1-channel" if grey else "3-channel")
    return 1 if grey else 3


def _good_classes(given: list[str], classes: list[str]) -> list[str]:
    if given:
        unknown = [g for g in given if g not in classes]
        if unknown:
            raise DataError(f"--good {', '.join(unknown)}: no such class (classes: {', '.join(classes)})")
        return list(given)
    return [c for c in classes if c.lower() in GOOD_DEFAULTS]


def _write_history(history: list[dict[str, float]], folder: Path, title: str, prior: float | None) -> None:
    with open(folder / "history.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
    plot_curves(history, folder / "curves.png", title, prior=prior)


def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None
