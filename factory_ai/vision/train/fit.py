"""Training the defect classifier: the ``fit`` half of the vision model contract.

Why these choices. A plant labels a few hundred images, mostly good parts, with defect classes
of 10 to 30 images. The first version of this loop weighted the loss by inverse class
frequency; with a class twenty times rarer than another, a batch's loss hung on the one or two
rare images it happened to hold, and on data it was not tuned for the network never left the
class prior (the loss of a uniform guess). Now:

- **sampling, not weights**: each epoch draws images with class shares proportional to the
  square root of the class counts (``balance``), so rare classes are seen several times more
  often than they occur, every batch has a stable loss, and the model is not pushed all the
  way to a uniform prior that would reject good parts for nothing;
- **a stall guard**: if after the first epochs the training loss has not fallen clearly below
  the entropy of the classes as sampled (what a network that learned nothing scores), training
  restarts at a third of the learning rate, twice at most, and says so; if it still has not
  learned, the result says that plainly (and the gate before service refuses it);
- **figures a person can read per epoch**: loss, macro-F1 and balanced accuracy on the training
  batches and the validation split, for ``curves.png``.

The weights kept are those of the epoch with the lowest validation loss (weighted to the
sampled class shares) among the second half of the epochs, and training stops early once that
loss has not improved for ``patience`` epochs of that half (``training.judged_from`` says why
not sooner). CUDA runs with mixed precision and channels-last memory;
the CPU path sets its thread count explicitly (on small machines the default oversubscribes
and runs many times slower).
"""

from __future__ import annotations

import copy
import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from factory_ai.errors import DataError
from factory_ai.training import (
    World,
    join_world,
    judged_from,
    leave_world,
    pick_device,
    same_everywhere,
    seed_everything,
    set_threads,
    stop_early,
)
from factory_ai.training import progress as progress_bar
from factory_ai.vision.metrics import balanced_accuracy, confusion_matrix, macro_f1
from factory_ai.vision.train.augment import augment
from factory_ai.vision.train.network import SurfaceNet

log = logging.getLogger(__name__)

STALL_RATIO = 0.9  # training loss must fall below this share of the class-prior entropy
LR_STEP_DOWN = 3.0  # each restart after a stall divides the learning rate by this
STALL_CHECK = 0.25  # share of the epochs after which a stall is judged
MIN_STEPS_TO_JUDGE = 300  # a stall is not judged on fewer optimiser steps than this (short runs: reported only)


@dataclass
class TrainConfig:
    epochs: int = 40
    image_size: int | None = None  # the canvas's long side; None: chosen from the data (vision.geometry)
    batch_size: int = 32
    width: int = 32
    lr: float = 2e-3
    weight_decay: float = 5e-4
    patience: int = 10
    label_smoothing: float = 0.05
    augment: float = 1.0
    balance: float = 0.5  # class shares drawn per epoch ~ count ** balance (1: as found, 0: all equal)
    retries: int = 2  # restarts at a lower learning rate when the loss stalls at the class prior
    min_steps: int = 32  # an epoch draws at least this many batches, however small the dataset
    stem_stride: int | None = None  # SurfaceNet's stem: 4 on canvases of 128 px a side or more, else 2
    pool: str = "avgmax"  # SurfaceNet's head: mean and maximum of the last feature map (see network.py)
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
    height: int
    width: int
    mean: list[float]
    std: list[float]
    config: TrainConfig
    device: str
    seconds: float
    best_epoch: int
    history: list[dict[str, float]] = field(default_factory=list)
    world: World = field(default_factory=World)
    learning: dict[str, Any] = field(default_factory=dict)  # prior entropy, attempts, whether it learned

    @property
    def learned(self) -> bool:
        return bool(self.learning.get("learned", True))


def class_shares(labels: np.ndarray, classes: int, balance: float) -> tuple[np.ndarray, np.ndarray]:
    """Per class: its share in the data and its share as training draws it (``count ** balance``)."""
    counts = np.bincount(labels, minlength=classes).astype(np.float64)
    found = counts / counts.sum()
    drawn = np.where(counts > 0, np.maximum(counts, 1) ** balance, 0.0)
    return found, drawn / drawn.sum()


def entropy(shares: np.ndarray) -> float:
    """Cross-entropy of the best guess that ignores the image: what a network that learned
    nothing scores on data drawn with these class shares."""
    p = shares[shares > 0]
    return float(-(p * np.log(p)).sum())


def fit(
    train: PixelSet, val: PixelSet, classes: list[str], config: TrainConfig, *, progress: bool = True
) -> TrainedClassifier:
    """Train a :class:`SurfaceNet` from scratch and return it with its training history.

    With ``config.distributed``, each torchrun process trains on its own share of every epoch
    (the same seeded draw everywhere, dealt out by rank) with ``batch_size / processes``
    images per step, and DDP averages the gradients, so one step still sees about
    ``batch_size`` images. Validation, early stopping and the stall guard follow rank 0's
    figures everywhere.
    """
    if len(train) == 0 or len(val) == 0:
        raise DataError("training and validation sets must both hold images")
    world, device = join_world(config.device) if config.distributed else (World(), pick_device(config.device))
    set_threads(config.threads)
    progress = progress and world.main
    found, drawn = class_shares(train.labels, len(classes), config.balance)
    prior = entropy(drawn)
    say: Callable[[str], None] = log.info if world.main else (lambda text: None)
    start = time.perf_counter()
    attempts: list[dict[str, Any]] = []
    lr = config.lr
    for attempt in range(config.retries + 1):
        last = attempt == config.retries
        run = _Run(train, val, classes, config, lr, world, device, drawn, found, progress, say)
        # A run too short to learn in is reported (below), not restarted.
        outcome = run.train(check_stall=not last and run.stall_check_epoch() is not None)
        attempts.append({"lr": lr, "epochs": len(run.history), "stalled": outcome == "stalled",
                         "train_loss": run.history[-1]["train_loss"]})
        if outcome != "stalled":
            break
        say(f"the training loss is {run.history[-1]['train_loss']:.3f} after {len(run.history)} epochs, not clearly "
            f"below {prior:.3f}, the loss of a guess that ignores the image (class-prior entropy): the network is not "
            f"learning. Restarting at learning rate {lr / LR_STEP_DOWN:.2g} (was {lr:.2g}).")
        lr /= LR_STEP_DOWN
    best_loss = min(h["train_loss"] for h in run.history)
    learned = best_loss < STALL_RATIO * prior
    if not learned:
        say(f"the network did not learn: its best training loss {best_loss:.3f} stayed near the class-prior entropy "
            f"{prior:.3f} after {len(attempts)} attempt(s). More images of the rare classes, a larger --image-size "
            "or a good-only anomaly model may help.")
    if world.size > 1:
        leave_world()
    network = run.best_network()
    return TrainedClassifier(
        network=network, classes=list(classes), channels=int(train.pixels.shape[1]),
        height=int(train.pixels.shape[2]), width=int(train.pixels.shape[3]), mean=run.mean, std=run.std,
        config=config, device=device.type, seconds=time.perf_counter() - start, best_epoch=run.best_epoch,
        history=run.history, world=world,
        learning={"prior_entropy": round(prior, 4), "stall_ratio": STALL_RATIO, "best_train_loss": round(best_loss, 4),
                  "learned": learned, "attempts": attempts, "class_shares_drawn": [round(x, 4) for x in drawn]},
    )


class _Run:
    """One attempt at training: a fresh network at one peak learning rate."""

    def __init__(self, train: PixelSet, val: PixelSet, classes: list[str], config: TrainConfig, lr: float,
                 world: World, device: torch.device, drawn: np.ndarray, found: np.ndarray, progress: bool,
                 say: Callable[[str], None]) -> None:
        self.config, self.world, self.device, self.say, self.classes = config, world, device, say, classes
        self.generator = seed_everything(config.seed)
        # Augmentation draws differ per process (different images, different flips); the epoch
        # order must not, so it keeps the shared generator. One process: one generator, as before.
        self.augment_generator = (self.generator if world.size == 1
                                  else torch.Generator().manual_seed(config.seed + 7919 * world.rank))
        channels = int(train.pixels.shape[1])
        scaled = train.pixels.reshape(len(train), channels, -1) / 255.0
        self.mean = scaled.mean(axis=(0, 2)).tolist()
        self.std = np.maximum(scaled.std(axis=(0, 2)), 1e-3).tolist()
        self.stem_stride = config.stem_stride or (4 if min(train.pixels.shape[2:]) >= 128 else 2)
        network = SurfaceNet(len(classes), channels, config.width, mean=self.mean, std=self.std,
                             stem_stride=self.stem_stride, pool=config.pool)
        self.memory_format = torch.channels_last if device.type == "cuda" else torch.contiguous_format
        self.network = network.to(device).to(memory_format=self.memory_format)
        model: nn.Module = _Logits(self.network)
        if world.size > 1:
            from torch.nn.parallel import DistributedDataParallel

            model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        self.model = model
        self.batch_size = max(config.batch_size // world.size, 2)
        # Images are drawn with replacement, so an epoch is a number of draws: the dataset's size,
        # but never so few batches that a small dataset gets a handful of steps per epoch (the
        # schedule, the early stop and the stall guard all count in epochs).
        draws = max(len(train), config.min_steps * config.batch_size)
        self.shard = draws // world.size  # every process takes the same number of steps
        # Each image is drawn with its class's sampled share spread over the class's images.
        counts = np.bincount(train.labels, minlength=len(classes)).astype(np.float64)
        per_image = drawn[train.labels] / counts[train.labels]
        self.draw_weights = torch.tensor(per_image, dtype=torch.float64)
        # Validation counts each class as training draws it, so its loss matches the training objective.
        val_weight = np.divide(drawn, found, out=np.ones_like(drawn), where=found > 0)
        self.val_weight = torch.tensor(val_weight, dtype=torch.float32, device=device)
        self.optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=config.weight_decay)
        self.steps_per_epoch = math.ceil(self.shard / self.batch_size)
        self.schedule = torch.optim.lr_scheduler.OneCycleLR(
            self.optimiser, max_lr=lr, total_steps=config.epochs * self.steps_per_epoch, pct_start=0.15)
        self.amp_dtype = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float16
        self.use_amp = device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp and self.amp_dtype == torch.float16)
        self.x_train = torch.from_numpy(train.pixels).to(device)
        self.y_train = torch.from_numpy(train.labels.astype(np.int64)).to(device)
        self.x_val = torch.from_numpy(val.pixels).to(device)
        self.y_val = torch.from_numpy(val.labels.astype(np.int64)).to(device)
        self.prior = entropy(drawn)
        self.progress = progress
        self.history: list[dict[str, float]] = []
        self.best_epoch = 0
        self._best: tuple[float, dict[str, torch.Tensor]] = (math.inf, copy.deepcopy(self.network.state_dict()))

    def stall_check_epoch(self) -> int | None:
        """The epoch after which a stall is judged: once the one-cycle warm-up (15 % of the
        epochs) is well over, and never before ``MIN_STEPS_TO_JUDGE`` steps; None for a run too
        short to judge."""
        epoch = max(2, math.ceil(STALL_CHECK * self.config.epochs))
        epoch = max(epoch, math.ceil(MIN_STEPS_TO_JUDGE / self.steps_per_epoch))
        return epoch if epoch < self.config.epochs else None

    def train(self, *, check_stall: bool) -> str:
        """Train until done, early stop, or (with ``check_stall``) a stall; return which."""
        config = self.config
        check_at = self.stall_check_epoch()
        bar = progress_bar(config.epochs * self.steps_per_epoch, self.progress)
        say = (lambda text: bar.write(text, file=sys.stderr)) if self.progress else self.say
        start = time.perf_counter()
        try:
            for epoch in range(1, config.epochs + 1):
                record = self._epoch(epoch, bar, start)
                self.history.append(record)
                # The first epoch that may be kept always is (even with a NaN validation loss, so
                # the starting weights are never what comes back); later ones must do better.
                loss = record["val_loss"] if math.isfinite(record["val_loss"]) else math.inf
                improved = epoch >= judged_from(config.epochs) and (self.best_epoch == 0 or loss < self._best[0] - 1e-4)
                if improved:
                    self._best = (loss, copy.deepcopy(self.network.state_dict()))
                    self.best_epoch = epoch
                say(f"epoch {epoch:3d}  train loss {record['train_loss']:.4f} F1 {record['train_macro_f1']:.3f}  "
                    f"val loss {record['val_loss']:.4f} F1 {record['val_macro_f1']:.3f} "
                    f"bal.acc {record['val_balanced_accuracy']:.3f}{'  *' if improved else ''}")
                if check_stall and epoch == check_at and record["train_loss"] >= STALL_RATIO * self.prior:
                    return "stalled"
                if stop_early(epoch, self.best_epoch, config.epochs, config.patience):
                    say(f"early stop: validation loss has not improved for {config.patience} epochs")
                    return "early stop"
            return "done"
        finally:
            bar.close()

    def _epoch(self, epoch: int, bar: Any, start: float) -> dict[str, float]:
        config, world, k = self.config, self.world, len(self.classes)
        self.model.train()
        draws = torch.multinomial(self.draw_weights, self.shard * world.size, replacement=True,
                                  generator=self.generator)
        order = draws[world.rank :: world.size].to(self.device)
        seen, loss_sum = 0, 0.0
        confusion = np.zeros((k, k), dtype=np.int64)
        for i in range(0, self.shard, self.batch_size):
            index = order[i : i + self.batch_size]
            if len(index) < 2:  # BatchNorm needs two samples
                continue
            batch = augment(self.x_train[index], self.augment_generator, config.augment)
            batch = batch.contiguous(memory_format=self.memory_format)
            target = self.y_train[index]
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp):
                logits = self.model(batch).float()
                loss = F.cross_entropy(logits, target, label_smoothing=config.label_smoothing)
            self.optimiser.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimiser)
            self.scaler.update()
            self.schedule.step()
            plain = F.cross_entropy(logits.detach(), target)  # unsmoothed: comparable with the prior entropy
            seen += len(index)
            loss_sum += float(plain) * len(index)
            confusion += confusion_matrix(target.cpu().numpy(), logits.detach().argmax(1).cpu().numpy(), k)
            bar.update(1)
            bar.set_postfix(epoch=f"{epoch}/{config.epochs}", loss=f"{loss_sum / max(seen, 1):.3f}")
        val_loss, val_conf = self._validate()
        train_loss, val_loss = same_everywhere([loss_sum / max(seen, 1), val_loss], self.device)
        return {"epoch": epoch, "train_loss": train_loss, "train_macro_f1": macro_f1(confusion),
                "train_balanced_accuracy": balanced_accuracy(confusion), "val_loss": val_loss,
                "val_accuracy": float(np.trace(val_conf) / max(val_conf.sum(), 1)), "val_macro_f1": macro_f1(val_conf),
                "val_balanced_accuracy": balanced_accuracy(val_conf), "lr": self.schedule.get_last_lr()[0],
                "seconds": time.perf_counter() - start}

    @torch.no_grad()
    def _validate(self) -> tuple[float, np.ndarray]:
        self.network.eval()
        logits = []
        for i in range(0, len(self.x_val), self.config.batch_size * 2):
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp):
                logits.append(self.network.logits(self.x_val[i : i + self.config.batch_size * 2]).float())
        all_logits = torch.cat(logits)
        loss = float(F.cross_entropy(all_logits, self.y_val, weight=self.val_weight))
        conf = confusion_matrix(self.y_val.cpu().numpy(), all_logits.argmax(1).cpu().numpy(), len(self.classes))
        return loss, conf

    def best_network(self) -> SurfaceNet:
        self.network.load_state_dict(self._best[1])
        return self.network.to("cpu", memory_format=torch.contiguous_format).eval()


class _Logits(nn.Module):
    """The network's logits as ``forward``: DDP synchronises gradients only through a call of
    the module it wraps, and SurfaceNet's own forward returns probabilities and heatmaps."""

    def __init__(self, network: SurfaceNet) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network.logits(x)
