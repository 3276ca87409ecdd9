"""Input geometry: how an image of any size becomes the model's fixed input, and back.

Why not a square: a plant photographs long strips, crops of varying size and frames of 2,000
pixels. Squashing them into one square stretches a crack into a smear, and shrinking a large
frame to 128 px erases a 20-px flaw. So the canvas takes the shape of the data (its median
aspect ratio) and as many pixels as the data has, up to a budget a CPU can train on; each image
is scaled to fit the canvas with its aspect ratio kept (``letterbox``), and the rest of the
canvas is filled by mirroring the image's own border, so no artificial edge appears for the
network to learn. An image standing the other way up from the canvas (a portrait crop on a
landscape canvas) is turned a quarter turn first, so it fills the canvas instead of a sliver
of it: a surface flaw keeps its class under rotation (training turns and flips images too).
The heatmap comes back through the same box, turned back.

Cards written before this module say ``fit = "stretch"`` (implicitly): the image is resized
to the canvas whatever its shape. Both are done here with PIL and numpy only, on both sides of
the torch line, so training and the line prepare pixels identically.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

LETTERBOX, STRETCH = "letterbox", "stretch"
# A canvas of this many pixels trains at roughly 40 images/s on two CPU cores with the default
# network; the data's own size wins when it is smaller.
DEFAULT_BUDGET = 256 * 256
# But a flaw must stay visible: frames are not shrunk by more than half to meet the budget,
# unless the canvas would then exceed four times the budget (a frame of 2,000 x 500 is judged
# at about 1,000 x 250, so a 20-px flaw keeps 10 px).
MIN_SCALE = 0.5
HARD_CAP = 4
MULTIPLE = 32  # the network halves the resolution five times
SMALLEST_SIDE = 64


@dataclass(frozen=True)
class Box:
    """Where the image sits on the canvas (pixels of the canvas)."""

    top: int
    left: int
    height: int
    width: int


def turned(size: tuple[int, int], canvas: tuple[int, int], fit: str) -> bool:
    """Whether an image of ``size`` = (width, height) is turned a quarter turn onto ``canvas``
    = (height, width): letterbox only, when one is landscape and the other portrait."""
    width, height = size
    ch, cw = canvas
    return fit == LETTERBOX and (width - height) * (cw - ch) < 0


def fit_box(size: tuple[int, int], canvas: tuple[int, int], fit: str) -> Box:
    """The box an image of ``size`` = (width, height) occupies on ``canvas`` = (height, width),
    after the quarter turn of :func:`turned` where it applies."""
    width, height = size
    if turned(size, canvas, fit):
        width, height = height, width
    ch, cw = canvas
    if fit == STRETCH:
        return Box(0, 0, ch, cw)
    scale = min(ch / height, cw / width)
    h = min(ch, max(1, round(height * scale)))
    w = min(cw, max(1, round(width * scale)))
    return Box((ch - h) // 2, (cw - w) // 2, h, w)


def place(image: Image.Image, canvas: tuple[int, int], fit: str) -> np.ndarray:
    """The image on the canvas as uint8 ``[H, W]`` or ``[H, W, 3]`` (mode already set)."""
    box = fit_box(image.size, canvas, fit)
    if turned(image.size, canvas, fit):
        image = image.transpose(Image.Transpose.ROTATE_90)
    if image.size != (box.width, box.height):
        image = image.resize((box.width, box.height), Image.Resampling.BILINEAR)
    array = np.asarray(image, dtype=np.uint8)
    if (box.height, box.width) == canvas:
        return array
    pad = [(box.top, canvas[0] - box.top - box.height), (box.left, canvas[1] - box.left - box.width)]
    if array.ndim == 3:
        pad.append((0, 0))
    # Mirror without repeating the edge row; numpy repeats the reflection for pads wider than
    # the image, and a single row or column can only be repeated.
    mode = "symmetric" if min(box.height, box.width) < 2 else "reflect"
    return np.pad(array, pad, mode=mode)


def crop_back(heatmap: np.ndarray, size: tuple[int, int], fit: str) -> np.ndarray:
    """The part of a canvas-sized heatmap that covers the image (``size`` = its width, height),
    the way up the image stands."""
    canvas = heatmap.shape[-2:]
    box = fit_box(size, canvas, fit)
    crop = heatmap[..., box.top : box.top + box.height, box.left : box.left + box.width]
    return np.rot90(crop, k=-1, axes=(-2, -1)) if turned(size, canvas, fit) else crop


@dataclass(frozen=True)
class Choice:
    """The canvas chosen for a dataset, and the facts it was chosen from (for the card)."""

    height: int
    width: int
    fit: str
    facts: dict[str, object]


def choose(sizes: list[tuple[int, int]], *, long_side: int | None = None, budget: int = DEFAULT_BUDGET) -> Choice:
    """Pick a letterbox canvas from the images' (width, height) sizes.

    Its aspect ratio is the median of the images' (so most images fill it), its area the
    median image's area capped at ``budget``, and both sides are rounded to the network's
    stride. Large frames are shrunk by half at most, as long as the canvas stays within
    ``HARD_CAP`` times the budget, so small flaws stay visible. ``long_side``
    (``--image-size``) fixes the longer side instead of the area.
    """
    if not sizes:
        raise ValueError("no image sizes to choose a geometry from")
    widths = np.array([s[0] for s in sizes], dtype=np.float64)
    heights = np.array([s[1] for s in sizes], dtype=np.float64)
    aspect = float(np.exp(np.median(np.log(widths / heights))))  # width / height
    area = float(np.median(widths * heights))
    if long_side is not None:
        if aspect >= 1:
            w, h = long_side, long_side / aspect
        else:
            w, h = long_side * aspect, long_side
    else:
        target = min(area, max(budget, min(area * MIN_SCALE**2, HARD_CAP * budget)))
        h = math.sqrt(target / aspect)
        w = h * aspect
    height, width = (_round_side(h, long_side), _round_side(w, long_side))
    scale = math.sqrt(height * width / area)
    facts = {
        "images": len(sizes),
        "median_size": [int(np.median(widths)), int(np.median(heights))],
        "smallest": [int(widths.min()), int(heights.min())],
        "largest": [int(widths.max()), int(heights.max())],
        "median_aspect_w_over_h": round(aspect, 3),
        "median_scale": round(scale, 3),
        "rule": "--image-size sets the long side" if long_side else
        f"median aspect ratio, median area up to {budget:,} pixels (large frames shrunk by half at most, up to "
        f"{HARD_CAP * budget:,} pixels), sides rounded to {MULTIPLE}",
    }
    return Choice(height, width, LETTERBOX, facts)


def _round_side(value: float, long_side: int | None) -> int:
    if long_side is not None and long_side < SMALLEST_SIDE:  # small test models keep their size
        return max(8, int(round(value / 8)) * 8)
    return max(SMALLEST_SIDE, int(round(value / MULTIPLE)) * MULTIPLE)


def sizes_of(paths: list[Path]) -> list[tuple[int, int]]:
    """Image sizes from the file headers alone (no pixel is decoded); unreadable files are skipped
    (training reports them when it reads the pixels)."""
    found = []
    for path in paths:
        try:
            with Image.open(path) as image:
                found.append(image.size)
        except Exception:  # noqa: BLE001 - the pixel reader names the bad file
            continue
    return found
