"""Heatmap overlays: where in the image the model saw the defect, as a PNG people can read.

The heatmap itself comes out of the ONNX graph (class activation map, 0..1 at model input
size); this module only colours it and lays it over the original image, with numpy and PIL.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def _colour_table() -> np.ndarray:
    # A perceptually ordered blue -> cyan -> yellow -> red ramp, 256 entries.
    stops = np.array([0.0, 0.35, 0.65, 1.0])
    colours = np.array([[20, 20, 140], [0, 190, 220], [250, 230, 40], [220, 20, 20]], dtype=np.float64)
    x = np.linspace(0, 1, 256)
    table = np.stack([np.interp(x, stops, colours[:, c]) for c in range(3)], axis=1)
    return table.round().astype(np.uint8)


_TABLE = _colour_table()


def overlay(image: Image.Image, heatmap: np.ndarray, alpha: float = 0.45) -> Image.Image:
    """Blend a coloured ``heatmap`` (H, W, values 0..1) over ``image`` at the image's size."""
    base = image.convert("RGB")
    heat = Image.fromarray((np.clip(heatmap, 0, 1) * 255).astype(np.uint8), mode="L")
    heat = heat.resize(base.size, Image.Resampling.BILINEAR)
    coloured = Image.fromarray(_TABLE[np.asarray(heat)], mode="RGB")
    return Image.blend(base, coloured, alpha)


def save_overlay(image: Image.Image, heatmap: np.ndarray, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    overlay(image, heatmap).save(path, format="PNG")
    return path
