"""Judging image files in batches: the engine behind ``factory-ai inspect``.

Why batches with per-file errors: a line-side PC must keep judging when one file is bad, so
each file is decoded on its own (an unreadable file becomes a result with an ``error``), and
the good ones are stacked into one array and judged by onnxruntime in a single call.

Any inspection model works here (a classifier, an anomaly detector): it needs a ``spec`` (the
canvas) and a ``judge(pixels)`` that returns one :class:`~factory_ai.vision.judgement.Judgement`
per image.
"""

from __future__ import annotations

import glob
import hashlib
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image

from factory_ai.errors import ImageError
from factory_ai.vision.geometry import crop_back
from factory_ai.vision.images import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES, InputSpec, open_image, to_pixels
from factory_ai.vision.judgement import Judgement


class InspectionModel(Protocol):
    """What the engine needs of a model: its canvas, and a judgement per image of a batch."""

    spec: InputSpec

    def judge(self, pixels: np.ndarray) -> list[Judgement]: ...


@dataclass
class Result:
    """The judgement of one file. ``error`` is set (and the rest empty) when it failed."""

    path: str
    label: str | None = None
    confidence: float | None = None
    verdict: str = "error"
    error: str | None = None
    scores: dict[str, float] | None = None
    score: float | None = None  # an anomaly detector's calibrated score (1.0 = its threshold)
    answers: dict[str, dict[str, object]] | None = None  # every model's answer on a several-model line
    sha256: str | None = None
    latency_ms: float | None = None
    brightness: float | None = None  # mean of the model's input pixels, 0..1 (drift checks)
    contrast: float | None = None  # their standard deviation, 0..1
    heatmap: np.ndarray | None = field(default=None, repr=False)  # over the image only (canvas padding cut off)
    image: Image.Image | None = field(default=None, repr=False)
    size: tuple[int, int] | None = field(default=None, repr=False)  # the image's (width, height)

    def as_json(self, with_score: bool = False) -> dict[str, object]:
        """Exactly the keys the ``--json`` output promises; ``score`` too for anomaly models."""
        out: dict[str, object] = {
            "path": self.path,
            "label": self.label,
            "confidence": None if self.confidence is None else round(self.confidence, 6),
            "verdict": self.verdict,
            "error": self.error,
        }
        if with_score:
            out["score"] = None if self.score is None else round(self.score, 6)
        return out


def collect(paths: Sequence[str]) -> tuple[list[Path], list[Result]]:
    """Expand files, folders (recursively, image suffixes only) and globs, in a stable order.

    Returns the files to judge and a result with an error for each argument that matched
    nothing, so a mistyped path is reported rather than silently skipped.
    """
    files: list[Path] = []
    missing: list[Result] = []
    seen: set[Path] = set()

    def add(path: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            files.append(path)

    for arg in paths:
        path = Path(arg)
        if path.is_dir():
            found = [
                p
                for p in sorted(path.rglob("*"))
                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not _hidden(p, path)
            ]
            if not found:
                missing.append(Result(path=arg, error="folder holds no image files"))
            for p in found:
                add(p)
        elif path.is_file():
            add(path)
        elif glob.has_magic(arg):
            matches = sorted(Path(m) for m in glob.glob(arg, recursive=True) if Path(m).is_file())
            if not matches:
                missing.append(Result(path=arg, error="pattern matched no files"))
            for p in matches:
                add(p)
        else:
            missing.append(Result(path=arg, error="no such file or folder"))
    return files, missing


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def judge(
    files: Iterable[Path],
    model: InspectionModel,
    *,
    batch: int = 16,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    keep_images: bool = False,
) -> Iterator[list[Result]]:
    """Yield the results batch by batch, in input order."""
    chunk: list[Path] = []
    # Decoding and resizing release the GIL in PIL, so a few threads overlap file I/O and
    # decoding with each other; inference itself uses onnxruntime's own thread pool.
    with ThreadPoolExecutor(max_workers=min(4, max(1, os.cpu_count() or 1))) as pool:
        for path in files:
            chunk.append(path)
            if len(chunk) == batch:
                yield _judge_batch(chunk, model, pool, max_pixels, keep_images)
                chunk = []
        if chunk:
            yield _judge_batch(chunk, model, pool, max_pixels, keep_images)


def judge_bytes(
    data: bytes, source: str, model: InspectionModel, *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> Result:
    """Judge one image held in memory (an HTTP upload, a camera frame)."""
    result, pixels = _decode(source, data, model, max_pixels, keep_image=False)
    if pixels is not None:
        _predict([result], [pixels], model)
    return result


def _judge_batch(
    chunk: list[Path], model: InspectionModel, pool: ThreadPoolExecutor, max_pixels: int, keep: bool
) -> list[Result]:
    decoded = list(pool.map(lambda p: _read_and_decode(p, model, max_pixels, keep), chunk))
    results = [r for r, _ in decoded]
    ok = [(r, px) for r, px in decoded if px is not None]
    if ok:
        _predict([r for r, _ in ok], [px for _, px in ok], model)
    return results


def _read_and_decode(
    path: Path, model: InspectionModel, max_pixels: int, keep: bool
) -> tuple[Result, np.ndarray | None]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return Result(path=str(path), error=f"cannot read file ({exc.strerror})"), None
    return _decode(str(path), data, model, max_pixels, keep)


def _decode(
    source: str, data: bytes, model: InspectionModel, max_pixels: int, keep_image: bool
) -> tuple[Result, np.ndarray | None]:
    result = Result(path=source, sha256=hashlib.sha256(data).hexdigest())
    try:
        image = open_image(data, max_pixels)
        pixels = to_pixels(image, model.spec)
    except ImageError as exc:
        result.error = str(exc)
        return result, None
    if keep_image:
        result.image = image
    result.size = image.size
    result.brightness, result.contrast = image_stats(pixels)
    return result, pixels


def image_stats(pixels: np.ndarray) -> tuple[float, float]:
    """Brightness and contrast of model input pixels (uint8), both 0..1: what a camera drifting
    out of focus or a lamp ageing changes first, before the verdicts do."""
    values = np.asarray(pixels, dtype=np.float32) / 255.0
    return float(values.mean()), float(values.std())


def _predict(results: list[Result], pixels: list[np.ndarray], model: InspectionModel) -> None:
    start = time.perf_counter()
    judgements = model.judge(np.stack(pixels))
    per_image_ms = (time.perf_counter() - start) * 1000 / len(results)
    for result, judged in zip(results, judgements, strict=True):
        result.label, result.confidence, result.verdict = judged.label, judged.confidence, judged.verdict
        result.error = None
        result.scores, result.score = judged.scores, judged.score
        heatmap = judged.heatmap
        result.heatmap = heatmap if result.size is None else crop_back(heatmap, result.size, model.spec.fit)
        result.latency_ms = per_image_ms
