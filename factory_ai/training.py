"""Helpers every torch training loop shares: device choice, seeding, thread count, progress.

Torch side only (the ``train`` extra); line-side code never imports this module.
"""

from __future__ import annotations

import random
import sys
from typing import Any

import numpy as np
import torch

from factory_ai.errors import DataError
from factory_ai.runtime import cpu_threads


def pick_device(wanted: str) -> torch.device:
    """``auto`` takes CUDA when torch sees a GPU, else the CPU; ``cuda`` insists."""
    if wanted not in ("auto", "cpu", "cuda"):
        raise DataError(f"device {wanted!r}: use auto, cpu or cuda")
    if wanted == "cuda" and not torch.cuda.is_available():
        raise DataError("--device cuda asked for, but torch sees no CUDA GPU")
    if wanted in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, numpy and torch (CPU and CUDA); return a generator for sampling."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    return torch.Generator().manual_seed(seed)


def set_threads(threads: int) -> int:
    """Pin torch's CPU thread count (0 = every core this process may use); on small machines
    the default oversubscribes and runs many times slower."""
    n = threads or cpu_threads()
    torch.set_num_threads(n)
    return n


def progress(total: int, enabled: bool, unit: str = "batch") -> Any:
    from tqdm import tqdm

    return tqdm(total=total, disable=not enabled, unit=unit, dynamic_ncols=True, leave=False, file=sys.stderr)
