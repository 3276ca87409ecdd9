"""``factory-ai train anomaly``: from a folder of good parts to a registered, calibrated detector.

The steps: gather the good images (duplicates and near-duplicates grouped, as for the
classifier), hold out a share of them to set the threshold on and a few to validate on, choose
the input geometry from the data (the classifier's), fit on good images with synthetic flaws,
export to ONNX and check parity (score and map), set the threshold at the score the plant's
``max_false_reject`` share of held-out good parts reach, judge the test set (``--test``: a
``good/`` folder and one folder per defect type), draw the plots, hold the figures against the
gate, and register the version. Without ``--test`` the detector is judged on seeded synthetic
flaws pasted on held-out good parts, and the card says so: only real defects give real figures.
"""

from __future__ import annotations

import json
import logging
import platform
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from factory_ai import __version__
from factory_ai.anomaly.detector import ANOMALY, FAMILY, GOOD, AnomalyDetector
from factory_ai.anomaly.metrics import auroc, pixel_figures, plot_scores, plot_sheet, rates, threshold_for
from factory_ai.anomaly.train.export import INPUT, MAP, SCORE, check_parity, export_onnx
from factory_ai.anomaly.train.fit import AnomalyConfig, TrainedDetector, fit
from factory_ai.errors import DataError
from factory_ai.reference import summarize
from factory_ai.registry import ModelRef, Registry, artifact_entry, sha256_file, write_card
from factory_ai.store.types import utcnow
from factory_ai.vision import folders, gate, geometry
from factory_ai.vision.curves import plot_curves
from factory_ai.vision.images import IMAGE_SUFFIXES, InputSpec, is_grey, open_image, read_pixels

log = logging.getLogger(__name__)
GOOD_NAMES = ("good", "ok")


@dataclass
class AnomalyJob:
    data: Path
    name: str
    test: Path | None = None
    masks: Path | None = None
    max_false_reject: float = 0.01
    holdout_fraction: float = 0.2
    val_fraction: float = 0.1
    channels: str = "auto"
    int8: bool = False
    promote: bool = False
    force: bool = False
    limits: gate.Limits = field(default_factory=gate.Limits)
    progress: bool = True
    train: AnomalyConfig = field(default_factory=AnomalyConfig)


@dataclass
class AnomalyOutcome:
    ref: ModelRef
    card: dict[str, Any]
    promoted: bool
    trained: TrainedDetector

    @property
    def gate_passed(self) -> bool:
        return bool(self.card["gate"]["passed"])

    def summary(self) -> str:
        card, test = self.card, self.card["metrics"]["test"]
        size = card["input"]["image_size"]
        lines = [f"model {self.ref.name} {self.ref.version} -> {self.ref.path}",
                 f"input: {size[1]} x {size[0]} canvas ({card['input']['fit']}), chosen from "
                 f"{card['input']['geometry']['rule']}",
                 f"threshold: calibrated score 1.0 = raw {card['thresholds']['raw_threshold']:.4g}, the score "
                 f"{card['thresholds']['max_false_reject']:.1%} of good parts should reach, from "
                 f"{card['thresholds']['method']}; review band {card['thresholds']['review_band'][0]:.2f} to "
                 f"{card['thresholds']['review_band'][1]:.2f}"]
        lines += [f"warning: {w}" for w in card["thresholds"].get("warnings", [])]
        judged_on = "synthetic flaws on held-out good parts (give --test for real figures)" \
            if test["kind"] == "synthetic" else f"the test set {test['source']}"
        lines.append(f"test ({judged_on}): image AUROC {test['image_auroc']:.3f} on {test['n_good']} good and "
                     f"{test['n_defect']} defective parts; at the threshold: false-reject rate "
                     f"{_pct(test['false_reject_rate'])}, escape rate {_pct(test['escape_rate'])}")
        for kind, m in (test.get("per_type") or {}).items():
            lines.append(f"  {kind}: {m['n']} parts, AUROC {m['image_auroc']:.3f}, escape rate {_pct(m['escape_rate'])}")
        if test.get("pixel_auroc") is not None:
            lines.append(f"  maps against the masks: pixel AUROC {test['pixel_auroc']:.3f}, PRO {test['pro']:.3f}")
        int8 = card["metrics"].get("test_int8")
        if int8:
            lines.append(f"int8: image AUROC {int8['image_auroc']:.3f} (fp32 {test['image_auroc']:.3f})")
        lines.append(f"parity torch/onnxruntime: max |Δscore| {card['parity']['max_abs_diff']:.1e}, max |Δmap| "
                     f"{card['parity']['map_max_abs_diff']:.1e} on {card['parity']['images']} images")
        lines.append(f"trained on {card['training']['device']} in {card['training']['seconds']:.0f} s on "
                     f"{card['dataset']['counts']['train']} good images; plots in {self.ref.path} (scores.png, "
                     "sheet.png, curves.png)")
        lines.append(("gate: " if self.gate_passed else "GATE FAILED: ") + card["gate"]["sentence"])
        if self.promoted:
            lines.append("now current (in service)" + ("; forced past the failed gate" if not self.gate_passed else ""))
        elif self.gate_passed:
            lines.append(f"not in service yet: factory-ai models promote {self.ref.name} {self.ref.version}")
        else:
            lines.append(f"not in service; registered as {self.ref.name} {self.ref.version} to be looked at "
                         f"(factory-ai models promote {self.ref.name} {self.ref.version} --force overrides the gate)")
        return "\n".join(lines)


def run(job: AnomalyJob, registry: Registry) -> AnomalyOutcome:
    if not 0 < job.max_false_reject < 0.5:
        raise DataError(f"--max-false-reject {job.max_false_reject}: give a share between 0 and 0.5, e.g. 0.01")
    goods = _good_images(job.data)
    test_good, test_bad = _test_images(job.test) if job.test is not None else ([], {})
    if test_good or test_bad:
        taken = {sha256_file(p) for p in test_good + [p for ps in test_bad.values() for p in ps]}
        kept = [p for p in goods if sha256_file(p) not in taken]
        if len(kept) < len(goods):
            log.warning("dropped %d training images that are byte-identical to test images", len(goods) - len(kept))
        goods = kept
    train, val, holdout = _split(goods, job)
    log.info("good images: %d to train on, %d to validate on, %d held out for the threshold", len(train), len(val),
             len(holdout))
    channels = _channels(job.channels, train)
    choice = geometry.choose(geometry.sizes_of(train), long_side=job.train.image_size)
    log.info("input geometry: %d x %d canvas (width x height), %s", choice.width, choice.height, choice.fit)
    spec = InputSpec(channels, choice.height, choice.width, choice.fit)
    pixels = {part: _pixels(paths, spec) for part, paths in (("train", train), ("val", val), ("holdout", holdout))}
    trained = fit(pixels["train"], pixels["val"], job.train, progress=job.progress)
    test_pixels = {"good": _pixels(test_good, spec), **{k: _pixels(v, spec) for k, v in test_bad.items()}}
    ref, card, promoted = registry.publish(
        job.name, lambda version, staging: _build(job, trained, version, staging, choice, pixels, test_pixels,
                                                  test_good, test_bad, {"train": train, "val": val, "holdout": holdout}),
        promote=job.promote, force=job.force)
    return AnomalyOutcome(ref=ref, card=card, promoted=promoted, trained=trained)


def _build(job: AnomalyJob, trained: TrainedDetector, version: str, staging: Path, choice: geometry.Choice,
           pixels: dict[str, np.ndarray], test_pixels: dict[str, np.ndarray], test_good: list[Path],
           test_bad: dict[str, list[Path]], parts: dict[str, list[Path]]) -> dict[str, Any]:
    import onnxruntime
    import torch

    onnx_path = staging / "model.onnx"
    export_facts = export_onnx(trained, onnx_path)
    every_test = np.concatenate(list(test_pixels.values())) if any(len(v) for v in test_pixels.values()) else None
    probe = pixels["holdout"][:48] if every_test is None else np.concatenate([pixels["holdout"][:32], every_test[:32]])
    parity = check_parity(trained, onnx_path, probe)
    card: dict[str, Any] = {
        "schema_version": 1, "name": job.name, "version": version, "family": FAMILY,
        "created_at": utcnow().isoformat(),
        "description": "Anomaly detector trained on good parts only (encoder-decoder marking synthetic flaws)",
        "classes": [GOOD, ANOMALY], "good_classes": [GOOD],
        "verdicts": "reject at or above the review band, pass below it, review inside it (calibrated score)",
        "input": {"name": INPUT, "dtype": "uint8", "layout": "NCHW", "channels": trained.channels,
                  "image_size": [trained.height, trained.width], "color_mode": "L" if trained.channels == 1 else "RGB",
                  "fit": choice.fit, "geometry": choice.facts},
        "normalisation": {"in_graph": True, "formula": "(pixels / 255 - mean) / std", "mean": trained.mean,
                          "std": trained.std},
        "outputs": {"score": SCORE, "map": MAP},
        "thresholds": {"raw_threshold": 1.0, "review_band": [0.9, 1.1]},  # set below, from held-out good parts
        "metrics": {},
        "parity": parity,
        "dataset": {"root": str(job.data), "test": None if job.test is None else str(job.test),
                    "counts": {k: len(v) for k, v in parts.items()},
                    "fingerprint": folders.fingerprint([folders.Sample(p, GOOD, sha256_file(p))
                                                        for ps in parts.values() for p in ps])},
        "training": {**trained.config.as_dict(), "device": trained.device, "seconds": round(trained.seconds, 1),
                     "best_epoch": trained.best_epoch, "epochs_run": len(trained.history),
                     "method": "synthetic-flaw segmentation from scratch (see anomaly/train/synth.py)",
                     "network": f"AnomalyNet(width={trained.config.width})",
                     "parameters": sum(p.numel() for p in trained.network.parameters())},
        "export": export_facts,
        "artifacts": {"model.onnx": artifact_entry(onnx_path, "fp32")},
        "versions": {"factory_ai": __version__, "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
                     "python": platform.python_version()},
    }
    write_card(staging, card)
    raw = _raw_scores(staging, "model.onnx", pixels["holdout"])
    threshold, method, fitted = threshold_for(raw, job.max_false_reject)
    calibrated = raw / threshold
    low = float(np.clip(np.quantile(calibrated, max(0.0, 1 - 3 * job.max_false_reject)), 0.75, 0.97))
    warnings = []
    if len(raw) * job.max_false_reject < 1:
        warnings.append(f"the threshold rests on {len(raw)} held-out good parts; a false-reject share of "
                        f"{job.max_false_reject:.1%} needs {int(np.ceil(1 / job.max_false_reject))} or more to be "
                        "estimated directly: add good images")
    card["thresholds"] = {"raw_threshold": threshold, "method": method, "tail_fitted": fitted,
                          "max_false_reject": job.max_false_reject,
                          "review_band": [round(low, 4), round(1 / low, 4)], "held_out_good": int(len(raw)),
                          "warnings": warnings}
    write_card(staging, card)
    test, sheet = _evaluate(staging, "model.onnx", job, pixels, test_pixels, test_good, test_bad, trained.config.seed)
    card["metrics"]["test"] = test
    card["metrics"]["held_out_good"] = {"n": int(len(raw)), "calibrated_quantiles": {
        q: float(np.quantile(calibrated, q)) for q in (0.5, 0.9, 0.99)}}
    verdict = _gate(test, job.limits)
    card["gate"] = {**verdict.as_dict(), "limits": asdict(job.limits), "sentence": verdict.sentence()}
    flat = pixels["train"].reshape(len(pixels["train"]), -1).astype(np.float32) / 255.0
    card["drift_reference"] = {k: v for k, v in {
        "score": summarize(calibrated), "brightness": summarize(flat.mean(1)), "contrast": summarize(flat.std(1)),
    }.items() if v is not None}
    if job.int8:
        from factory_ai.vision.train.quantize import quantize_int8

        rng = np.random.default_rng(trained.config.seed)
        calibration = pixels["train"][np.sort(rng.permutation(len(pixels["train"]))[:200])]
        card["quantization"] = quantize_int8(onnx_path, staging / "model.int8.onnx", INPUT, calibration)
        card["artifacts"]["model.int8.onnx"] = artifact_entry(staging / "model.int8.onnx", "int8")
        write_card(staging, card)
        int8_test, _ = _evaluate(staging, "model.int8.onnx", job, pixels, test_pixels, test_good, test_bad,
                                 trained.config.seed)
        card["metrics"]["test_int8"] = {k: int8_test[k] for k in ("image_auroc", "false_reject_rate", "escape_rate")}
    plot_scores(np.asarray(sheet["good"]), np.asarray(sheet["bad"]), tuple(card["thresholds"]["review_band"]),
                staging / "scores.png", f"{job.name} {version}: calibrated scores ({test['kind']} test)")
    plot_sheet(sheet["images"], sheet["maps"], sheet["captions"], staging / "sheet.png",
               f"{job.name} {version}: highest-scoring test parts")
    plot_curves([{**h, "train_auroc": None} for h in trained.history], staging / "curves.png",
                f"{job.name} {version}: learning curves (validation: synthetic flaws)", metric="auroc",
                metric_label="image AUROC")
    (staging / "evaluation.json").write_text(json.dumps(card["metrics"], indent=2) + "\n", encoding="utf-8")
    (staging / "split.json").write_text(json.dumps({k: [str(p) for p in v] for k, v in parts.items()}, indent=1)
                                        + "\n", encoding="utf-8")
    write_card(staging, card)
    return card


def _evaluate(folder: Path, artifact: str, job: AnomalyJob, pixels: dict[str, np.ndarray],
              test_pixels: dict[str, np.ndarray], test_good: list[Path], test_bad: dict[str, list[Path]],
              seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The exported detector's figures on the test set (or on synthetic flaws without one)."""
    detector = AnomalyDetector.load(folder, int8=artifact != "model.onnx", device="cpu")
    real = bool(test_bad) or bool(test_good)
    if real:
        good_px, bad = test_pixels["good"], {k: test_pixels[k] for k in test_bad}
        sources = {"good": test_good, **test_bad}
    else:  # held-out validation parts as they are, and with seeded synthetic flaws
        good_px, bad = pixels["val"], {"synthetic": _synthetic(pixels["val"], seed)}
        sources = {}
    good_found = _detect(detector, good_px)
    bad_found = {k: _detect(detector, v) for k, v in bad.items()}
    good_scores = good_found.scores
    bad_scores = np.concatenate([f.scores for f in bad_found.values()]) if bad_found else np.zeros(0)
    figures: dict[str, Any] = {"kind": "real" if real else "synthetic", "source": str(job.test) if real else None,
                               "n_good": int(len(good_scores)), "n_defect": int(len(bad_scores)),
                               "image_auroc": auroc(good_scores, bad_scores), **rates(good_scores, bad_scores)}
    figures["per_type"] = {k: {"n": int(len(f.scores)), "image_auroc": auroc(good_scores, f.scores),
                               **rates(good_scores, f.scores)} for k, f in bad_found.items()} if real else {}
    if real and job.masks is not None:
        figures.update(_mask_figures(job.masks, test_bad, bad_found, detector))
    # The sheet: the highest-scoring test parts, good or not, with their maps over the picture.
    everything = [(s, "good", i) for i, s in enumerate(good_scores)] + [
        (s, k, i) for k, f in bad_found.items() for i, s in enumerate(f.scores)]
    everything.sort(key=lambda t: -t[0])
    images, maps, captions = [], [], []
    from PIL import Image

    for score, kind, i in everything[:12]:
        found = good_found if kind == "good" else bad_found[kind]
        px = (good_px if kind == "good" else bad[kind])[i]
        images.append(Image.fromarray(px[0] if px.shape[0] == 1 else px.transpose(1, 2, 0)))
        maps.append(found.maps[i])
        name = Path(sources[kind][i]).name if sources.get(kind) else f"#{i}"
        captions.append(f"{kind} {name}: {score:.2f}")
    return figures, {"good": good_scores.tolist(), "bad": bad_scores.tolist(), "images": images, "maps": maps,
                     "captions": captions}


def _mask_figures(masks_dir: Path, test_bad: dict[str, list[Path]], found: dict[str, Any],
                  detector: AnomalyDetector) -> dict[str, Any]:
    """Pixel AUROC and PRO over the defective test images that have a mask (``<masks>/<type>/<stem>*``)."""
    from PIL import Image

    from factory_ai.vision.geometry import fit_box, place

    maps, truths = [], []
    for kind, paths in test_bad.items():
        for path, amap in zip(paths, found[kind].maps, strict=True):
            candidates = sorted((masks_dir / kind).glob(f"{path.stem}*")) if (masks_dir / kind).is_dir() else []
            if not candidates:
                continue
            with Image.open(candidates[0]) as mask:
                mask = mask.convert("L")
                # The mask goes onto the canvas exactly as its image did; the padding is not judged.
                placed = place(mask, (detector.spec.height, detector.spec.width), detector.spec.fit) > 127
                box = fit_box(mask.size, (detector.spec.height, detector.spec.width), detector.spec.fit)
            window = (slice(box.top, box.top + box.height), slice(box.left, box.left + box.width))
            maps.append(amap[window])
            truths.append(placed[window])
    if not maps:
        return {"pixel_auroc": None, "pro": None, "masked_images": 0}
    return {**pixel_figures(maps, truths), "masked_images": len(maps)}


def _gate(test: dict[str, Any], limits: gate.Limits) -> gate.Verdict:
    """The anomaly family's gate: AUROC a clear step above a coin (0.5), and the rates at the
    shipped threshold within the plant's limits."""
    checks = []
    value = test.get("image_auroc")
    needed = 0.5 + limits.margin * 0.5
    ok = value is not None and value >= needed
    checks.append({"figure": "image_auroc", "value": value, "limit": needed, "passed": ok,
                   "text": f"image AUROC {value if value is None else round(value, 3)} " + (
                       "reaches" if ok else "is below") + f" the {needed:.3f} needed (a coin scores 0.5)"})
    for key, limit, label, harm in (("false_reject_rate", limits.max_false_reject, "false-reject rate", "good parts rejected"),
                                    ("escape_rate", limits.max_escape, "escape rate", "defects passed")):
        v = test.get(key)
        if v is None:
            continue
        ok = v <= limit
        checks.append({"figure": key, "value": round(v, 4), "limit": limit, "passed": ok,
                       "text": f"{label} {v:.1%} ({harm}) " + ("within" if ok else "over") + f" the limit {limit:.0%}"})
    passed = all(c["passed"] for c in checks)
    advice = [] if passed else ["more good images (the detector learns the good part from them)",
                                "a larger --image-size if the flaws are small",
                                "a test set with real defects (--test) if it was judged on synthetic flaws"]
    return gate.Verdict(passed, checks, advice)


@dataclass
class _Found:
    scores: np.ndarray
    maps: np.ndarray


def _detect(detector: AnomalyDetector, pixels: np.ndarray) -> _Found:
    if not len(pixels):
        return _Found(np.zeros(0), np.zeros((0, detector.spec.height, detector.spec.width), np.float32))
    found = [detector.detect(pixels[i:i + 32]) for i in range(0, len(pixels), 32)]
    return _Found(np.concatenate([f.scores for f in found]), np.concatenate([f.maps for f in found]))


def _raw_scores(folder: Path, artifact: str, pixels: np.ndarray) -> np.ndarray:
    """Raw scores from the exported graph (the card's threshold is not set yet)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(folder / artifact), providers=["CPUExecutionProvider"])
    return np.concatenate([session.run([SCORE], {INPUT: pixels[i:i + 32]})[0]
                           for i in range(0, len(pixels), 32)]).astype(np.float64)


def _synthetic(pixels: np.ndarray, seed: int) -> np.ndarray:
    import torch

    from factory_ai.anomaly.train.synth import synthesize

    flawed, _ = synthesize(torch.from_numpy(pixels).float(), torch.Generator().manual_seed(seed + 202), share=1.0)
    return flawed.round().clamp(0, 255).to(torch.uint8).numpy()


def _good_images(root: Path) -> list[Path]:
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    found = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                   and not any(part.startswith(".") for part in p.relative_to(root).parts))
    if len(found) < 10:
        raise DataError(f"{root}: {len(found)} good images; the detector needs at least 10 (a few hundred is better)")
    return found


def _test_images(root: Path) -> tuple[list[Path], dict[str, list[Path]]]:
    """A test folder's good images and its defect images by type (one sub-folder each)."""
    samples = folders.scan(root)
    good = [s.path for s in samples if s.label.lower() in GOOD_NAMES]
    bad: dict[str, list[Path]] = {}
    for s in samples:
        if s.label.lower() not in GOOD_NAMES:
            bad.setdefault(s.label, []).append(s.path)
    if not good and not bad:
        raise DataError(f"{root}: no images")
    return good, bad


def _split(goods: list[Path], job: AnomalyJob) -> tuple[list[Path], list[Path], list[Path]]:
    """Train, validation and threshold hold-out, near-duplicates kept on one side."""
    groups = folders.near_duplicates(goods)
    rng = np.random.default_rng(job.train.seed)
    order = rng.permutation(len(groups))
    n = len(goods)
    n_hold = max(int(round(n * job.holdout_fraction)), 5)
    n_val = max(int(round(n * job.val_fraction)), 2)
    holdout, val, train = [], [], []
    for index in order:
        members = [goods[i] for i in groups[index]]
        part = holdout if len(holdout) < n_hold else val if len(val) < n_val else train
        part.extend(members)
    if len(train) < 2:
        raise DataError(f"{job.data}: too few good images left to train on after holding out "
                        f"{len(holdout) + len(val)}; add good images")
    return train, val, holdout


def _pixels(paths: list[Path], spec: InputSpec) -> np.ndarray:
    if not paths:
        return np.zeros((0, spec.channels, spec.height, spec.width), np.uint8)

    def load(path: Path) -> np.ndarray:
        try:
            return read_pixels(path, spec)
        except Exception as exc:
            raise DataError(f"{path}: {exc}") from None

    with ThreadPoolExecutor(max_workers=4) as pool:
        return np.stack(list(pool.map(load, paths)))


def _channels(choice: str, paths: list[Path]) -> int:
    if choice in ("1", "3"):
        return int(choice)
    probe = paths[:: max(1, len(paths) // 64)][:64]
    return 1 if all(is_grey(open_image(p.read_bytes())) for p in probe) else 3


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"
