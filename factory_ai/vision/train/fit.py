"""Training the defect classifier: the ``fit`` half of the vision model contract.

Why these choices: plants label a few hundred images per class, often unevenly, so the loss is
class-weighted, augmentation is strong (see ``augment``), and training stops early once the
validation loss stops improving, keeping the best weights. CUDA runs with mixed precision and
channels-last memory; the CPU path sets its thread count explicitly (on small machines the
default oversubscribes and runs many times slower).
"""

from __future__ import annotations

import copy
import logging
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from factory_ai.errors import DataError
from factory_ai.training import (
    World,
    join_world,
    leave_world,
    pick_device,
    same_everywhere,
    seed_everything,
    set_threads,
)
from factory_ai.training import progress as progress_bar
from factory_ai.vision.train.augment import augment
from factory_ai.vision.train.network import SurfaceNet

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    epochs: int = 40
    image_size: int = 128
    batch_size: int = 32
    width: int = 32
    lr: float = 3e-3
    weight_decay: float = 5e-4
    patience: int = 10
    label_smoothing: float = 0.05
    augment: float = 1.0
    seed: int = 0
    device: str = "auto"
    threads: int = 0
    distributed: bool = False  # one of several torchrun processes (DDP: NCCL on GPU, gloo on CPU)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PixelSet:
    """uint8 ``[N, C, H, W]`` pixels with integer labels."""

    pixels: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class TrainedClassifier:
    network: SurfaceNet
    classes: list[str]
    channels: int
    image_size: int
    mean: list[float]
    std: list[float]
    config: TrainConfig
    device: str
    seconds: float
    best_epoch: int
    history: list[dict[str, float]] = field(default_factory=list)
    world: World = field(default_factory=World)


def fit(
    train: PixelSet, val: PixelSet, classes: list[str], config: TrainConfig, *, progress: bool = True
) -> TrainedClassifier:
    """Train a :class:`SurfaceNet` from scratch and return it with its training history.

    With ``config.distributed``, each torchrun process trains on its own share of every epoch
    (the same seeded order everywhere, dealt out by rank) with ``batch_size / processes``
    images per step, and DDP averages the gradients, so one step still sees about
    ``batch_size`` images. Validation and early stopping follow rank 0's figures everywhere.
    """
    if len(train) == 0 or len(val) == 0:
        raise DataError("training and validation sets must both hold images")
    generator = seed_everything(config.seed)
    world, device = join_world(config.device) if config.distributed else (World(), pick_device(config.device))
    set_threads(config.threads)
    # Augmentation draws differ per process (different images, different flips); the epoch
    # order must not, so it keeps the shared generator. One process: one generator, as before.
    augment_generator = generator if world.size == 1 else torch.Generator().manual_seed(config.seed + 7919 * world.rank)
    progress = progress and world.main
    channels = int(train.pixels.shape[1])
    scaled = train.pixels.reshape(len(train), channels, -1) / 255.0
    mean = scaled.mean(axis=(0, 2)).tolist()
    std = np.maximum(scaled.std(axis=(0, 2)), 1e-3).tolist()

    network = SurfaceNet(len(classes), channels, config.width, mean=mean, std=std).to(device)
    memory_format = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    network = network.to(memory_format=memory_format)
    model: nn.Module = _Logits(network)
    if world.size > 1:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    batch_size = max(config.batch_size // world.size, 2)
    shard = len(train) // world.size  # every process takes the same number of steps
    counts = np.bincount(train.labels, minlength=len(classes)).astype(np.float64)
    weights = len(train) / (len(classes) * np.maximum(counts, 1))
    loss_fn = nn.CrossEntropyLoss(
        weight=torch.tensor(weights, dtype=torch.float32, device=device), label_smoothing=config.label_smoothing
    )
    val_loss_fn = nn.CrossEntropyLoss(weight=loss_fn.weight)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(shard / batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=config.lr, total_steps=config.epochs * steps_per_epoch, pct_start=0.15
    )
    amp_dtype = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float16
    use_amp = device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)

    x_train = torch.from_numpy(train.pixels).to(device)
    y_train = torch.from_numpy(train.labels.astype(np.int64)).to(device)
    x_val = torch.from_numpy(val.pixels).to(device)
    y_val = torch.from_numpy(val.labels.astype(np.int64)).to(device)

    bar = progress_bar(config.epochs * steps_per_epoch, progress)
    say = (lambda text: bar.write(text, file=sys.stderr)) if progress else log.info if world.main else (lambda text: None)
    best = (math.inf, 0, copy.deepcopy(network.state_dict()))
    history: list[dict[str, float]] = []
    start = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = torch.randperm(len(train), generator=generator)[: shard * world.size][world.rank :: world.size]
        order = order.to(device)
        seen, loss_sum, correct = 0, 0.0, 0
        for i in range(0, shard, batch_size):
            index = order[i : i + batch_size]
            if len(index) < 2:  # BatchNorm needs two samples
                continue
            batch = augment(x_train[index], augment_generator, config.augment).contiguous(memory_format=memory_format)
            target = y_train[index]
            with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                logits = model(batch)
                loss = loss_fn(logits.float(), target)
            optimiser.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimiser)
            scaler.update()
            schedule.step()
            seen += len(index)
            loss_sum += float(loss.detach()) * len(index)
            correct += int((logits.argmax(1) == target).sum())
            bar.update(1)
            bar.set_postfix(epoch=f"{epoch}/{config.epochs}", loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
        val_loss, val_acc = _validate(network, x_val, y_val, val_loss_fn, config.batch_size * 2, amp_dtype, use_amp)
        val_loss, val_acc = same_everywhere([val_loss, val_acc], device)
        record = {"epoch": epoch, "train_loss": loss_sum / max(seen, 1), "train_accuracy": correct / max(seen, 1),
                  "val_loss": val_loss, "val_accuracy": val_acc, "lr": schedule.get_last_lr()[0],
                  "seconds": time.perf_counter() - start}
        history.append(record)
        improved = val_loss < best[0] - 1e-4
        if improved:
            best = (val_loss, epoch, copy.deepcopy(network.state_dict()))
        say(f"epoch {epoch:3d}  train loss {record['train_loss']:.4f} acc {record['train_accuracy']:.3f}  "
                  f"val loss {val_loss:.4f} acc {val_acc:.3f}{'  *' if improved else ''}")
        if epoch - best[1] >= config.patience:
            say(f"early stop: validation loss has not improved for {config.patience} epochs")
            break
    bar.close()
    if world.size > 1:
        leave_world()
    network.load_state_dict(best[2])
    network = network.to("cpu", memory_format=torch.contiguous_format).eval()
    return TrainedClassifier(
        network=network, classes=list(classes), channels=channels, image_size=int(train.pixels.shape[2]),
        mean=mean, std=std, config=config, device=device.type, seconds=time.perf_counter() - start,
        best_epoch=best[1], history=history, world=world,
    )


class _Logits(nn.Module):
    """The network's logits as ``forward``: DDP synchronises gradients only through a call of
    the module it wraps, and SurfaceNet's own forward returns probabilities and heatmaps."""

    def __init__(self, network: SurfaceNet) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network.logits(x)


@torch.no_grad()
def _validate(
    network: SurfaceNet, x: torch.Tensor, y: torch.Tensor, loss_fn: nn.Module, batch: int,
    amp_dtype: torch.dtype, use_amp: bool,
) -> tuple[float, float]:
    network.eval()
    logits = []
    for i in range(0, len(x), batch):
        with torch.autocast(x.device.type, dtype=amp_dtype, enabled=use_amp):
            logits.append(network.logits(x[i : i + batch]).float())
    all_logits = torch.cat(logits)
    return float(loss_fn(all_logits, y)), float((all_logits.argmax(1) == y).float().mean())
