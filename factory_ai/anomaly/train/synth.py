"""Synthetic flaws on good images: what the anomaly network learns to find.

Why synthetic: on day one a plant has good parts only, and the flaw that matters next month
is one nobody has photographed. So the network is never shown a real defect. It is shown good
images with something pasted in that a good part does not have, and learns to mark exactly
those pixels; anything that departs from the good part then lights up, whatever it is. (This
is the discriminative half of DRAEM, Zavrtanik et al. 2021, trained from scratch.)

The flaws are deliberately varied, so that the network learns "not like the good part" rather
than one kind of mark:

- **shape**: blobs (low-resolution noise upsampled and thresholded, one or a few patches from
  a fraction of a percent to a few percent of the frame) or strokes (random walks one to
  three pixels wide: cracks and scratches);
- **content**: a brightness change relative to the image's own contrast (darker or lighter);
  texture transplanted from elsewhere in the same image or another image of the batch; the
  region smoothed away (a missing texture); or noise.

The flaw is the target only where it changed the pixels visibly: a patch that happened to
copy similar texture teaches nothing and is not marked.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch.nn import functional as F


def synthesize(x: torch.Tensor, generator: torch.Generator, share: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Paste flaws on about ``share`` of a float (0..255) batch ``[B, C, H, W]``; return the new
    batch and the target masks ``[B, 1, H, W]`` (1 where a visible flaw is)."""
    b, c, h, w = x.shape
    dev = x.device
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    rng = np.random.default_rng(seed)
    out = x.clone()
    target = torch.zeros(b, 1, h, w, device=dev)
    for i in range(b):
        if rng.random() >= share:
            continue
        mask = torch.from_numpy(_stroke(rng, h, w) if rng.random() < 0.4 else _blobs(rng, h, w)).to(dev)
        image = x[i]
        kind = rng.integers(0, 4)
        spread = float(image.std()) + 4.0
        if kind == 0:  # darker or lighter
            content = image + float(rng.choice([-1, 1]) * rng.uniform(1.0, 4.0) * spread)
        elif kind == 1:  # texture from elsewhere (this image or another), moved
            other = x[int(rng.integers(0, b))]
            dy, dx = int(rng.integers(-h // 2, h // 2 + 1)), int(rng.integers(-w // 2, w // 2 + 1))
            content = torch.roll(other.flip(-1) if rng.random() < 0.5 else other, shifts=(dy, dx), dims=(-2, -1))
            content = content + (image.mean() - content.mean())
        elif kind == 2:  # texture smoothed away
            k = int(rng.integers(2, 5)) * 2 + 1
            content = F.avg_pool2d(image[None], k, stride=1, padding=k // 2, count_include_pad=False)[0]
        else:  # noise
            content = image + torch.from_numpy(rng.normal(0, rng.uniform(1.0, 3.0) * spread, image.shape)).to(dev).float()
        soft = mask[None]
        blended = image * (1 - soft) + content.clamp(0, 255) * soft
        changed = (blended - image).abs().amax(dim=0, keepdim=True) > max(6.0, 0.5 * spread)
        out[i] = blended
        target[i] = (soft > 0.5) & changed
    return out, target


def _blobs(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """One to three patches of noise-shaped area, soft-edged, 0..1 float32 ``[H, W]``."""
    grid = int(rng.choice([4, 6, 8, 12]))
    gh, gw = grid, max(2, round(grid * w / h))
    noise = torch.from_numpy(rng.random((1, 1, gh, gw)).astype(np.float32))
    field = F.interpolate(noise, size=(h, w), mode="bicubic", align_corners=False)[0, 0].numpy()
    area = rng.uniform(0.002, 0.04)
    mask = (field >= np.quantile(field, 1 - area)).astype(np.float32)
    # Soft edges: a flaw blends into the surface over a pixel or two.
    soft = F.avg_pool2d(torch.from_numpy(mask)[None, None], 3, stride=1, padding=1)[0, 0].numpy()
    return soft


def _stroke(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A crack- or scratch-like random walk, 1 to 3 px wide."""
    canvas = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(canvas)
    x, y = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h
    heading = rng.uniform(0, 2 * math.pi)
    straight = rng.random() < 0.5
    points = [(x, y)]
    length = rng.uniform(0.05, 0.4) * max(h, w)
    step = max(2.0, length / 20)
    for _ in range(20):
        heading += rng.normal(0, 0.1 if straight else 0.6)
        x, y = x + math.cos(heading) * step, y + math.sin(heading) * step
        points.append((x, y))
    draw.line(points, fill=255, width=int(rng.integers(1, 4)))
    return np.asarray(canvas, dtype=np.float32) / 255.0
