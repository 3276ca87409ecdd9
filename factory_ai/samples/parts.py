"""Synthetic parts as a plant photographs them: any size, any aspect ratio, small faint flaws.

Why a second generator: ``images`` makes square 96-px tiles with bold defects drawn in
proportion to the frame, which every model learns. A plant's camera delivers something else:
crops of 130 to 600 pixels a side, long narrow frames, flaws of a few pixels whose size does not
grow with the frame, low contrast, and far more good parts than bad ones. Training and
inspection are tested on these too, so that a default which only suits neat square tiles shows.

Defect sizes are in pixels of the frame, not fractions of it: a 16-px pit stays 16 px on a
1,600-px frame. Each defect image can also get its mask (``<masks>/<class>/<file>.png``, in a
folder of its own so the image folder stays a clean ImageFolder), so anomaly maps can be scored
pixel by pixel.

Deterministic for a given seed, as ``images`` is.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

# A plant's usual mix: mostly good parts, a long tail of defect types.
DEFAULT_COUNTS = {"good": 280, "scratch": 60, "spot": 40, "crack": 30, "pit": 20, "stain": 14}


def surface(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A machined surface of any shape: brushing streaks, a lighting gradient, sensor noise."""
    base = rng.uniform(100, 155)
    along_rows = rng.random() < 0.5
    n, length = (height, width) if along_rows else (width, height)
    streaks = rng.normal(0, 1, (n, 1)) * rng.uniform(3, 7) + rng.normal(0, 2.0, (n, length))
    kernel = np.ones(9) / 9
    streaks = np.apply_along_axis(lambda r: np.convolve(r, kernel, mode="same"), 1, streaks)
    if not along_rows:
        streaks = streaks.T
    yy, xx = np.mgrid[0:height, 0:width]
    scale = max(height, width)
    angle = rng.uniform(0, 2 * np.pi)
    light = (np.cos(angle) * xx + np.sin(angle) * yy) / scale * rng.uniform(-30, 30)
    return base + streaks + light + rng.normal(0, 3, (height, width))


def _mask(shape: tuple[int, int], draw: Callable[[ImageDraw.ImageDraw], None], blur: float) -> np.ndarray:
    mask = Image.new("L", (shape[1], shape[0]), 0)
    draw(ImageDraw.Draw(mask))
    if blur:
        mask = mask.filter(ImageFilter.GaussianBlur(blur))
    return np.asarray(mask, dtype=np.float64) / 255.0


def _centre(rng: np.random.Generator, shape: tuple[int, int], margin: float) -> tuple[float, float]:
    h, w = shape
    mx, my = min(margin, 0.45 * w), min(margin, 0.45 * h)  # small frames: keep the flaw mostly inside
    return rng.uniform(mx, w - mx), rng.uniform(my, h - my)


def _scratch(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, float]:
    length = rng.uniform(30, 110)
    angle = rng.uniform(0, np.pi)
    cx, cy = _centre(rng, shape, 0.55 * length)
    dx, dy = np.cos(angle) * length / 2, np.sin(angle) * length / 2
    points = [(cx - dx, cy - dy), (cx + dx, cy + dy)]
    width = int(rng.integers(1, 3))
    return (_mask(shape, lambda d: d.line(points, fill=255, width=width), 0.5),
            (1 if rng.random() < 0.7 else -1) * rng.uniform(22, 45))


def _spot(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, float]:
    r = rng.uniform(5, 12)
    cx, cy = _centre(rng, shape, 2 * r)
    squash = rng.uniform(0.6, 1.0)
    return (_mask(shape, lambda d: d.ellipse((cx - r, cy - r * squash, cx + r, cy + r * squash), fill=255), 1.5),
            -rng.uniform(22, 45))


def _crack(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, float]:
    x, y = _centre(rng, shape, 40)
    heading = rng.uniform(0, 2 * np.pi)
    points = [(x, y)]
    for _ in range(int(rng.integers(10, 22))):
        heading += rng.normal(0, 0.6)
        step = rng.uniform(2.5, 4.5)
        x, y = x + np.cos(heading) * step, y + np.sin(heading) * step
        points.append((x, y))
    return _mask(shape, lambda d: d.line(points, fill=255, width=1), 0.3), -rng.uniform(35, 65)


def _pit(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, float]:
    cx, cy = _centre(rng, shape, 20)

    def draw(d: ImageDraw.ImageDraw) -> None:
        for _ in range(int(rng.integers(3, 8))):
            r = rng.uniform(1.2, 2.5)
            x, y = cx + rng.normal(0, 5), cy + rng.normal(0, 5)
            d.ellipse((x - r, y - r, x + r, y + r), fill=255)

    return _mask(shape, draw, 0.4), -rng.uniform(35, 60)


def _stain(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, float]:
    r = rng.uniform(12, 28)
    cx, cy = _centre(rng, shape, 1.5 * r)
    squash = rng.uniform(0.5, 1.0)
    return (_mask(shape, lambda d: d.ellipse((cx - r, cy - r * squash, cx + r, cy + r * squash), fill=255), r / 3),
            (1 if rng.random() < 0.5 else -1) * rng.uniform(14, 24))


DEFECTS: dict[str, Callable[[np.random.Generator, tuple[int, int]], tuple[np.ndarray, float]]] = {
    "scratch": _scratch,
    "spot": _spot,
    "crack": _crack,
    "pit": _pit,
    "stain": _stain,
}


def make_part(label: str, rng: np.random.Generator, height: int, width: int,
              contrast: float = 1.0) -> tuple[Image.Image, Image.Image | None]:
    """One greyscale part of class ``label`` at ``height`` x ``width``, with its defect mask
    (``None`` for a good part); ``contrast`` scales how much the flaw darkens or lightens."""
    pixels = surface(rng, height, width)
    mask = None
    if label != "good":
        if label not in DEFECTS:
            raise ValueError(f"unknown defect {label!r}; known: {', '.join(DEFECTS)}")
        weights, delta = DEFECTS[label](rng, (height, width))
        pixels = pixels + contrast * delta * weights
        mask = Image.fromarray(((weights > 0.25) * 255).astype(np.uint8), mode="L")
    return Image.fromarray(np.clip(pixels, 0, 255).round().astype(np.uint8), mode="L"), mask


def frame_size(rng: np.random.Generator, sides: tuple[int, int], aspect: tuple[float, float]) -> tuple[int, int]:
    """A frame's (height, width): the long side in ``sides``, long/short in ``aspect``, either way up."""
    long = int(rng.integers(sides[0], sides[1] + 1))
    short = max(16, int(round(long / rng.uniform(*aspect))))
    return (short, long) if rng.random() < 0.7 else (long, short)


def generate(out: Path, counts: dict[str, int] | None = None, *, sides: tuple[int, int] = (130, 610),
             aspect: tuple[float, float] = (1.0, 2.5), seed: int = 5, masks: Path | None = None,
             contrast: float = 1.0) -> dict[str, int]:
    """Write ``out/<class>/<class>_NNN.png`` (and ``masks/<class>/...`` for defects); return the counts."""
    out = Path(out)
    counts = dict(DEFAULT_COUNTS if counts is None else counts)
    for index, (label, n) in enumerate(counts.items()):
        rng = np.random.default_rng([seed, index, 31])
        folder = out / label
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(n):
            height, width = frame_size(rng, sides, aspect)
            image, mask = make_part(label, rng, height, width, contrast)
            image.save(folder / f"{label}_{k:03d}.png", format="PNG", optimize=True)
            if mask is not None and masks is not None:
                (Path(masks) / label).mkdir(parents=True, exist_ok=True)
                mask.save(Path(masks) / label / f"{label}_{k:03d}.png", format="PNG", optimize=True)
    return counts
