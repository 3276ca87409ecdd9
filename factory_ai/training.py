"""Helpers every torch training loop shares: device choice, seeding, thread count, progress,
and joining the other processes when training runs distributed under torchrun.

Torch side only (the ``train`` extra); line-side code never imports this module.
"""

from __future__ import annotations

import math
import os
import random
import sys
from dataclasses import dataclass
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


EARLY_STOP_FROM = 0.5  # share of the epochs before which no weights are kept and no run is stopped


def judged_from(epochs: int) -> int:
    """The first epoch whose weights may be kept as the best, and from which early stopping
    counts its patience: the middle of the schedule.

    Why not sooner: under a one-cycle schedule the first part of training runs at a high
    learning rate and the validation loss jumps about from epoch to epoch. Worse, a barely
    trained network is unsure of everything, and on a small validation split its loss (about
    ln of the class count) can be lower than that of a network that is right on all but one
    image and sure of it. Measured on ELPV solar cells (eight runs on one GPU): every run that
    went the distance had its best epoch in the last quarter, but one seed stopped at epoch 11
    keeping epoch 1's weights, macro-F1 0.68 where its twin seed reached 0.75; and on 16-epoch
    runs over 14 validation images the same trap kept a network that had learned nothing.
    """
    return max(1, math.ceil(EARLY_STOP_FROM * epochs))


def stop_early(epoch: int, best_epoch: int, epochs: int, patience: int) -> bool:
    """Whether to stop: no better weights for ``patience`` epochs (one at least), counted from
    :func:`judged_from` at the earliest, so a run never stops before it has weights to keep."""
    start = judged_from(epochs)
    return epoch >= start and epoch - max(best_epoch, start - 1) >= max(patience, 1)


def set_threads(threads: int) -> int:
    """Pin torch's CPU thread count (0 = every core this process may use); on small machines
    the default oversubscribes and runs many times slower."""
    n = threads or cpu_threads()
    torch.set_num_threads(n)
    return n


def progress(total: int, enabled: bool, unit: str = "batch") -> Any:
    from tqdm import tqdm

    return tqdm(total=total, disable=not enabled, unit=unit, dynamic_ncols=True, leave=False, file=sys.stderr)


# -- several processes (torchrun) ------------------------------------------------------------------

@dataclass(frozen=True)
class World:
    """This process's place among the training processes: rank 0 of 1 when not distributed."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """The process that reports, exports and registers; the others only train."""
        return self.rank == 0


def join_world(wanted_device: str) -> tuple[World, torch.device]:
    """Join the process group torchrun set up: NCCL between GPUs, gloo between CPU processes.

    Each process takes the GPU of its local rank. Raises a clear error when run outside
    torchrun, since then there is nobody to train with."""
    import torch.distributed as dist

    if "WORLD_SIZE" not in os.environ or "RANK" not in os.environ:
        raise DataError("--distributed runs under torchrun, e.g. "
                        "torchrun --nproc_per_node 4 -m factory_ai train vision --distributed ...")
    world = World(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0)))
    device = pick_device(wanted_device)
    if device.type == "cuda":
        torch.cuda.set_device(world.local_rank)
        device = torch.device("cuda", world.local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return world, device


def leave_world() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def same_everywhere(values: list[float], device: torch.device) -> list[float]:
    """Rank 0's ``values`` on every process, so decisions taken from them (keep these weights,
    stop now) cannot differ between processes by a rounding and leave one waiting forever."""
    import torch.distributed as dist

    if not dist.is_initialized():
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.broadcast(tensor, src=0)
    return tensor.tolist()
