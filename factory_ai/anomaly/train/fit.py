"""Training the anomaly detector: the ``fit`` half of the anomaly family's contract.

Good images only. Each step draws a batch, applies the classifier's flaw-keeping augmentation
(flips, turns, whole-pixel shifts, mild lighting), pastes synthetic flaws on about half of it
(``synth``), and trains the network to mark the flawed pixels: focal loss (the flawed pixels are
few) plus a soft Dice term (so a small flaw is marked whole) on the 1/4-resolution map.

On a canvas larger than ``crop_pixels`` (long or large frames), each image of a batch is cut
to a random window of about that area after augmentation (:func:`crop_size`). The network is
fully convolutional, so it learns the same thing from windows, and a step costs the same
whatever the frame size. The full canvas is still judged (validation, export, the line), so no
resolution is given up. Measured on long synthetic frames (704 x 224 canvas, 200 good images,
2 cores, ``bench/anomaly.py --only long``): 457 s and image AUROC 0.998 on 288 x 224 windows,
against 1,189 s and 0.994 on the whole canvas.

Each epoch ends on the same seeded synthetic flaws pasted on held-out good images, whose image
AUROC and loss make the learning curves; the weights with the best validation loss from the
middle of the schedule on are kept (``training.judged_from``, as for the classifier: early in
a one-cycle schedule the loss jumps about, and a barely trained network can win on it).
The clean held-out images are not trained on: the threshold is set on them afterwards.
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
from torch.nn import functional as F

from factory_ai.anomaly.metrics import auroc
from factory_ai.anomaly.train.network import AnomalyNet, image_score
from factory_ai.anomaly.train.synth import synthesize
from factory_ai.errors import DataError
from factory_ai.training import judged_from, pick_device, seed_everything, set_threads, stop_early
from factory_ai.training import progress as progress_bar
from factory_ai.vision import geometry
from factory_ai.vision.train.augment import augment

log = logging.getLogger(__name__)


@dataclass
class AnomalyConfig:
    epochs: int = 45
    image_size: int | None = None  # the canvas's long side; None: chosen from the data (vision.geometry)
    batch_size: int = 16
    width: int = 24
    lr: float = 2e-3
    weight_decay: float = 1e-4
    min_steps: int = 32  # an epoch draws at least this many batches, however few the good images
    flawed_share: float = 0.5  # share of each batch given a synthetic flaw
    augment: float = 0.5
    patience: int = 10
    crop_pixels: int = geometry.DEFAULT_BUDGET  # train on windows of about this area on larger canvases; 0: never
    seed: int = 0
    device: str = "auto"
    threads: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainedDetector:
    network: AnomalyNet
    channels: int
    height: int
    width: int
    mean: list[float]
    std: list[float]
    config: AnomalyConfig
    device: str
    seconds: float
    best_epoch: int
    history: list[dict[str, float]] = field(default_factory=list)


def fit(train: np.ndarray, val: np.ndarray, config: AnomalyConfig, *, progress: bool = True) -> TrainedDetector:
    """Train an :class:`AnomalyNet` on uint8 good images ``[N, C, H, W]``; ``val`` are held-out good
    images that get the same seeded synthetic flaws every epoch."""
    if len(train) < 2 or len(val) < 2:
        raise DataError("the detector needs at least 2 good images to train on and 2 to validate on")
    generator = seed_everything(config.seed)
    device = pick_device(config.device)
    set_threads(config.threads)
    channels = int(train.shape[1])
    scaled = train.reshape(len(train), channels, -1) / 255.0
    mean = scaled.mean(axis=(0, 2)).tolist()
    std = np.maximum(scaled.std(axis=(0, 2)), 1e-3).tolist()
    network = AnomalyNet(channels, config.width, mean=mean, std=std).to(device)
    optimiser = torch.optim.AdamW(network.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    draws = max(len(train), config.min_steps * config.batch_size)
    steps = math.ceil(draws / config.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=config.lr, total_steps=config.epochs * steps,
                                                   pct_start=0.15)
    x_train = torch.from_numpy(train).to(device)
    window = crop_size(int(train.shape[2]), int(train.shape[3]), config.crop_pixels)
    val_x, val_target = _validation_set(val, config.seed, device)
    bar = progress_bar(config.epochs * steps, progress)
    say = (lambda text: bar.write(text, file=sys.stderr)) if progress else log.info
    best = (math.inf, 0, copy.deepcopy(network.state_dict()))
    history: list[dict[str, float]] = []
    if window != tuple(train.shape[2:]):
        say(f"training on random {window[1]} x {window[0]} windows of the {train.shape[3]} x {train.shape[2]} canvas "
            f"(width x height), so a step costs what a {config.crop_pixels:,}-pixel canvas costs")
    start = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        network.train()
        order = torch.randint(0, len(train), (steps * config.batch_size,), generator=generator)
        loss_sum = 0.0
        for i in range(steps):
            index = order[i * config.batch_size:(i + 1) * config.batch_size].to(device)
            batch = _crop(augment(x_train[index], generator, config.augment), window, generator)
            batch, target = synthesize(batch, generator, config.flawed_share)
            loss = _loss(network.logits(batch.round().clamp(0, 255)), target)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            loss_sum += float(loss.detach())
            bar.update(1)
            bar.set_postfix(epoch=f"{epoch}/{config.epochs}", loss=f"{loss_sum / (i + 1):.3f}")
        val_loss, val_auroc = _validate(network, val_x, val_target)
        record = {"epoch": epoch, "train_loss": loss_sum / steps, "val_loss": val_loss, "val_auroc": val_auroc,
                  "lr": schedule.get_last_lr()[0], "seconds": time.perf_counter() - start}
        history.append(record)
        improved = epoch >= judged_from(config.epochs) and val_loss < best[0] - 1e-4
        if improved:
            best = (val_loss, epoch, copy.deepcopy(network.state_dict()))
        say(f"epoch {epoch:3d}  train loss {record['train_loss']:.4f}  val loss {val_loss:.4f} "
            f"synthetic-flaw AUROC {val_auroc:.3f}{'  *' if improved else ''}")
        if stop_early(epoch, best[1], config.epochs, config.patience):
            say(f"early stop: validation loss has not improved for {config.patience} epochs")
            break
    bar.close()
    network.load_state_dict(best[2])
    network = network.to("cpu").eval()
    return TrainedDetector(network=network, channels=channels, height=int(train.shape[2]), width=int(train.shape[3]),
                           mean=mean, std=std, config=config, device=device.type,
                           seconds=time.perf_counter() - start, best_epoch=best[1], history=history)


def crop_size(height: int, width: int, budget: int) -> tuple[int, int]:
    """The training window ``(height, width)`` for a canvas: the canvas itself when it is within
    ``budget`` pixels (or ``budget`` is 0); else as near square as the canvas allows, about
    ``budget`` pixels, sides on the network's stride. A long, narrow frame keeps its short side
    whole, so a crack across it is seen from edge to edge."""
    if budget <= 0 or height * width <= budget:
        return height, width
    step = geometry.MULTIPLE
    side = max(2 * step, int(math.sqrt(budget)) // step * step)
    if min(height, width) <= side:
        long = max(side, budget // min(height, width) // step * step)
        return (height, min(width, long)) if height <= width else (min(height, long), width)
    return side, side


def _crop(batch: torch.Tensor, window: tuple[int, int], generator: torch.Generator) -> torch.Tensor:
    """A random ``window`` of each image of ``batch`` (each its own place)."""
    h, w = batch.shape[2:]
    if (h, w) == window:
        return batch
    tops = torch.randint(0, h - window[0] + 1, (len(batch),), generator=generator).tolist()
    lefts = torch.randint(0, w - window[1] + 1, (len(batch),), generator=generator).tolist()
    return torch.stack([image[:, t:t + window[0], left:left + window[1]]
                        for image, t, left in zip(batch, tops, lefts, strict=True)])


def _validation_set(val: np.ndarray, seed: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Every held-out good image twice: as it is, and with a seeded synthetic flaw."""
    clean = torch.from_numpy(val).float().to(device)
    flawed, target = synthesize(clean, torch.Generator().manual_seed(seed + 101), share=1.0)
    x = torch.cat([clean, flawed.round().clamp(0, 255)])
    t = torch.cat([torch.zeros_like(target), target])
    return x, t


@torch.no_grad()
def _validate(network: AnomalyNet, x: torch.Tensor, target: torch.Tensor) -> tuple[float, float]:
    network.eval()
    losses, scores = [], []
    for i in range(0, len(x), 16):
        logits = network.logits(x[i:i + 16])
        losses.append(float(_loss(logits, target[i:i + 16])) * len(logits))
        probability = torch.sigmoid(logits)
        scores.append(image_score(probability))
    score = torch.cat(scores).cpu().numpy()
    flawed = target.amax(dim=(1, 2, 3)).cpu().numpy() > 0
    return sum(losses) / len(x), auroc(score[~flawed], score[flawed]) or 0.5


def _loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Focal loss plus soft Dice, at the logits' 1/4 resolution (a cell counts as flawed when a
    tenth of its pixels are)."""
    coarse = (F.adaptive_avg_pool2d(target, logits.shape[2:]) > 0.1).float()
    p = torch.sigmoid(logits)
    bce = F.binary_cross_entropy_with_logits(logits, coarse, reduction="none")
    p_t = p * coarse + (1 - p) * (1 - coarse)
    focal = ((1 - p_t) ** 2 * bce).mean()
    inter = (p * coarse).sum(dim=(1, 2, 3))
    dice = 1 - (2 * inter + 1) / (p.sum(dim=(1, 2, 3)) + coarse.sum(dim=(1, 2, 3)) + 1)
    has_flaw = coarse.amax(dim=(1, 2, 3)) > 0
    dice_term = dice[has_flaw].mean() if has_flaw.any() else logits.new_zeros(())
    return 10 * focal + dice_term
