"""Batched augmentation for surface images, run on the training device.

Why these, and why so gentle: a surface defect keeps its class under flips, quarter turns,
shifts and changes of lighting, so the network must not learn any of those. But a plant's
flaws are often a pixel or two wide and faint, and every resampling blurs them: a rotation or
zoom with bilinear interpolation halves the contrast of a one-pixel crack, and a random crop
can cut the flaw out of an image that is still labelled defective. So:

- flips, quarter turns (square canvases) and shifts by whole pixels are exact: nothing is
  interpolated, and a shift mirrors the border back in, so nothing leaves the frame;
- a small rotation and zoom, which do interpolate, touch only half of the images;
- lighting changes (brightness, contrast, a little noise) are mild, below the contrast of a
  faint flaw.

Everything works on a whole uint8 batch at once (a ``grid_sample`` or two and a few element-wise
ops), which keeps a 2-core CPU busy on the network rather than on Python loops.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F


def augment(pixels: torch.Tensor, generator: torch.Generator, strength: float = 1.0) -> torch.Tensor:
    """Return an augmented float copy (0..255) of a uint8 NCHW batch."""
    x = pixels.float()
    if strength <= 0:
        return x
    n, c, h, w = x.shape
    dev = x.device

    def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator, device="cpu").to(dev) * (high - low) + low

    # Exact: dihedral group (quarter turns only where the canvas is square) ...
    if h == w:
        turns = int(torch.randint(0, 4, (1,), generator=generator))
        x = torch.rot90(x, turns, dims=(2, 3))
    flip_h = uniform(0, 1, n) < 0.5
    flip_v = uniform(0, 1, n) < 0.5
    x = torch.where(flip_h[:, None, None, None], x.flip(3), x)
    x = torch.where(flip_v[:, None, None, None], x.flip(2), x)

    # ... and shifts by whole pixels with the border mirrored in (nearest sampling: no blur).
    # Half of the images also get a small rotation and zoom, which do interpolate.
    shift_px = torch.round(uniform(-0.08, 0.08, n, 2) * strength * torch.tensor([w, h], device=dev))
    shift = shift_px * 2 / torch.tensor([w, h], device=dev)
    smooth = uniform(0, 1, n) < 0.5
    angle = uniform(-10, 10, n) * (math.pi / 180) * strength * smooth
    scale = 1 + uniform(-0.08, 0.08, n) * strength * smooth
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    # Rotation in pixel units: the canvas may be wide, so scale the off-diagonal terms by its aspect.
    theta = torch.stack(
        [torch.stack([cos, -sin * h / w, shift[:, 0]], 1), torch.stack([sin * w / h, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta, [n, c, h, w], align_corners=False)
    exact = F.grid_sample(x, grid, mode="nearest", padding_mode="reflection", align_corners=False)
    if bool(smooth.any()):
        blurred = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        x = torch.where(smooth[:, None, None, None], blurred, exact)
    else:
        x = exact

    # Lighting: brightness, contrast around the image mean, mild sensor noise.
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    contrast = 1 + uniform(-0.15, 0.15, n, 1, 1, 1) * strength
    brightness = uniform(-12, 12, n, 1, 1, 1) * strength
    x = (x - mean) * contrast + mean + brightness
    noise = torch.randn(x.shape, generator=generator, device="cpu").to(dev) * (2.0 * strength)
    return (x + noise).clamp_(0, 255)
