"""Batched augmentation for surface images, run on the training device.

Why these: a surface defect keeps its class under flips, quarter turns, small rotations,
scale changes, shifts and changes of lighting, so the network must not learn any of those.
Everything works on a whole uint8 batch at once (one affine ``grid_sample`` and a few
element-wise ops), which keeps a 2-core CPU busy on the network rather than on Python loops.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F


def augment(pixels: torch.Tensor, generator: torch.Generator, strength: float = 1.0) -> torch.Tensor:
    """Return an augmented float copy (0..255) of a uint8 NCHW batch."""
    x = pixels.float()
    n, c, h, w = x.shape
    dev = x.device

    def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator, device="cpu").to(dev) * (high - low) + low

    # Dihedral group: flips and (for square images) quarter turns.
    if h == w:
        turns = int(torch.randint(0, 4, (1,), generator=generator))
        x = torch.rot90(x, turns, dims=(2, 3))
    flip_h = uniform(0, 1, n) < 0.5
    flip_v = uniform(0, 1, n) < 0.5
    x = torch.where(flip_h[:, None, None, None], x.flip(3), x)
    x = torch.where(flip_v[:, None, None, None], x.flip(2), x)

    # Small rotation, zoom and shift in one affine resampling, mirrored at the borders.
    angle = uniform(-15, 15, n) * (math.pi / 180) * strength
    scale = 1 + uniform(-0.15, 0.15, n) * strength
    shift = uniform(-0.1, 0.1, n, 2) * strength
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    # Lighting: brightness, contrast around the image mean, mild sensor noise.
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    contrast = 1 + uniform(-0.25, 0.25, n, 1, 1, 1) * strength
    brightness = uniform(-20, 20, n, 1, 1, 1) * strength
    x = (x - mean) * contrast + mean + brightness
    noise = torch.randn(x.shape, generator=generator, device="cpu").to(dev) * (3.0 * strength)
    return (x + noise).clamp_(0, 255)
