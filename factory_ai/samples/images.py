"""Synthetic product images: brushed-metal parts with scratches, spots and cracks.

Why synthetic: the project must demonstrate and test itself on a fresh clone without any
download, and a generator is small enough to commit where thousands of photos are not. The
images imitate what a line camera sees on machined or rolled parts: a brushed texture with
uneven lighting and sensor noise, and defects of a few pixels' width at random positions and
angles, so a model cannot pass by memorising a position.

The output is deterministic for a given seed (byte-identical PNG files), so tests can check
that regenerating gives the committed files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

CLASSES = ("good", "scratch", "spot", "crack")


def _surface(rng: np.random.Generator, size: int) -> np.ndarray:
    """Brushed metal: streaks along one axis, a lighting gradient, fine noise (float 0..255)."""
    base = rng.uniform(105, 150)
    streaks = rng.normal(0, 1, (size, 1)) * rng.uniform(4, 9)
    streaks = np.repeat(streaks, size, axis=1) + rng.normal(0, 2.5, (size, size))
    # Streaks are a little blurred along their own direction, as brushing leaves them.
    kernel = np.ones(7) / 7
    streaks = np.apply_along_axis(lambda r: np.convolve(r, kernel, mode="same"), 1, streaks)
    yy, xx = np.mgrid[0:size, 0:size] / size
    angle = rng.uniform(0, 2 * np.pi)
    light = (np.cos(angle) * xx + np.sin(angle) * yy) * rng.uniform(-25, 25)
    surface = base + streaks + light
    if rng.random() < 0.5:
        surface = surface.T
    return surface + rng.normal(0, 3, (size, size))


def _paint(surface: np.ndarray, draw: Callable[[ImageDraw.ImageDraw], None], delta: float, blur: float) -> np.ndarray:
    """Draw a defect mask with PIL, soften it, and darken or lighten the surface by it."""
    size = surface.shape[0]
    mask = Image.new("L", (size, size), 0)
    draw(ImageDraw.Draw(mask))
    if blur:
        mask = mask.filter(ImageFilter.GaussianBlur(blur))
    return surface + delta * (np.asarray(mask, dtype=np.float64) / 255.0)


def _scratch(rng: np.random.Generator, surface: np.ndarray) -> np.ndarray:
    size = surface.shape[0]
    length = rng.uniform(0.45, 0.85) * size
    angle = rng.uniform(0, np.pi)
    cx, cy = rng.uniform(0.3, 0.7, 2) * size
    dx, dy = np.cos(angle) * length / 2, np.sin(angle) * length / 2
    bend = rng.normal(0, size * 0.02, 2)
    points = [(cx - dx, cy - dy), (cx + bend[0], cy + bend[1]), (cx + dx, cy + dy)]
    width = int(rng.integers(2, 4))
    # Scratches catch the light: mostly brighter than the surface, long and nearly straight.
    delta = (1 if rng.random() < 0.7 else -1) * rng.uniform(30, 75)
    return _paint(surface, lambda d: d.line(points, fill=255, width=width, joint="curve"), delta, 0.6)


def _spot(rng: np.random.Generator, surface: np.ndarray) -> np.ndarray:
    size = surface.shape[0]

    def draw(d: ImageDraw.ImageDraw) -> None:
        for _ in range(int(rng.integers(1, 4))):
            r = rng.uniform(0.04, 0.09) * size
            cx, cy = rng.uniform(0.15, 0.85, 2) * size
            squash = rng.uniform(0.7, 1.0)
            d.ellipse((cx - r, cy - r * squash, cx + r, cy + r * squash), fill=255)

    return _paint(surface, draw, -rng.uniform(35, 80), 1.5)


def _crack(rng: np.random.Generator, surface: np.ndarray) -> np.ndarray:
    size = surface.shape[0]

    def walk(d: ImageDraw.ImageDraw, x: float, y: float, heading: float, steps: int, depth: int) -> None:
        points = [(x, y)]
        for _ in range(steps):
            heading += rng.normal(0, 0.9)
            step = rng.uniform(2.5, 5.0) * size / 96
            x, y = x + np.cos(heading) * step, y + np.sin(heading) * step
            points.append((x, y))
            if depth < 2 and rng.random() < 0.15:
                walk(d, x, y, heading + rng.choice([-1, 1]) * rng.uniform(0.6, 1.2), steps // 2, depth + 1)
        d.line(points, fill=255, width=2 if depth == 0 else 1)

    start = rng.uniform(0.25, 0.75, 2) * size
    return _paint(surface, lambda d: walk(d, *start, rng.uniform(0, 2 * np.pi), int(rng.integers(10, 18)), 0),
                  -rng.uniform(40, 90), 0.4)


_DEFECTS: dict[str, Callable[[np.random.Generator, np.ndarray], np.ndarray]] = {
    "scratch": _scratch,
    "spot": _spot,
    "crack": _crack,
}


def make_image(label: str, rng: np.random.Generator, size: int = 96) -> Image.Image:
    """One greyscale image of class ``label``."""
    surface = _surface(rng, size)
    if label != "good":
        surface = _DEFECTS[label](rng, surface)
    return Image.fromarray(np.clip(surface, 0, 255).round().astype(np.uint8), mode="L")


def generate(out: Path, per_class: int = 60, size: int = 96, seed: int = 7) -> dict[str, int]:
    """Write ``out/<class>/<class>_NNN.png``; return the count per class."""
    out = Path(out)
    counts = {}
    for index, label in enumerate(CLASSES):
        # One stream per class: adding images to one class does not change the others.
        rng = np.random.default_rng([seed, index])
        folder = out / label
        folder.mkdir(parents=True, exist_ok=True)
        for n in range(per_class):
            make_image(label, rng, size).save(folder / f"{label}_{n:03d}.png", format="PNG", optimize=True)
        counts[label] = per_class
    return counts
