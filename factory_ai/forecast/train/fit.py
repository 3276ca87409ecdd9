"""Training the temporal network: the torch half of the forecast's ``fit``.

One network learns both tasks. RUL quantiles (10/50/90 %) are fitted with the pinball loss on
rows whose remaining life is known (censored rows only where it is known to be at the cap), and
the failure-within-horizon logit with a class-weighted cross-entropy on rows whose outcome is
known. Training stops when the validation error of the median stops improving (or, for a
risk-only table, the validation risk loss) and keeps the best weights.
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
from torch.nn import functional as F

from factory_ai.errors import DataError
from factory_ai.forecast.train.network import QUANTILES, build
from factory_ai.training import World, join_world, pick_device, same_everywhere, seed_everything, set_threads
from factory_ai.training import progress as progress_bar

log = logging.getLogger(__name__)


@dataclass
class NetworkConfig:
    network: str = "cnn"
    width: int = 64
    epochs: int = 30
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-4
    patience: int = 10
    risk_weight: float = 0.01  # the risk loss is ~30x the RUL loss; more costs RUL accuracy
    seed: int = 0
    device: str = "auto"
    threads: int = 0
    distributed: bool = False  # one of several torchrun processes (DDP: NCCL on GPU, gloo on CPU)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Arrays:
    """Windows with their targets: RUL capped (NaN unknown), risk 1/0 (-1 unknown)."""

    windows: np.ndarray
    rul: np.ndarray
    risk: np.ndarray

    def __len__(self) -> int:
        return len(self.windows)


@dataclass
class TrainedNetwork:
    network: nn.Module
    config: NetworkConfig
    cap: float
    channels: int
    device: str
    seconds: float
    best_epoch: int
    history: list[dict[str, float]] = field(default_factory=list)
    world: World = field(default_factory=World)


def rul_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared error for the median (RUL is judged by RMSE), pinball loss for the interval."""
    q = torch.tensor(QUANTILES, device=pred.device)
    diff = target[:, None] - pred
    interval = torch.maximum(q * diff, (q - 1) * diff)[:, [0, 2]].mean()
    return F.mse_loss(pred[:, 1], target) + interval


def fit(train: Arrays, val: Arrays, cap: float, config: NetworkConfig, *, progress: bool = True) -> TrainedNetwork:
    """Train one network. With ``config.distributed`` (under torchrun) each process trains on
    its share of every epoch's windows and DDP averages the gradients; validation and early
    stopping follow rank 0's figures everywhere. The process group stays up for the next fold."""
    if len(train) == 0:
        raise DataError("no training windows")
    generator = seed_everything(config.seed)
    world, device = join_world(config.device) if config.distributed else (World(), pick_device(config.device))
    set_threads(config.threads)
    progress = progress and world.main
    channels = train.windows.shape[2]
    network = build(config.network, channels, config.width).to(device)
    model: nn.Module = network
    if world.size > 1:
        from torch.nn.parallel import DistributedDataParallel

        # A batch without a known RUL (or without a risk label) leaves one head unused.
        model = DistributedDataParallel(network, device_ids=[device.index] if device.type == "cuda" else None,
                                        find_unused_parameters=True)
    batch_size = max(config.batch_size // world.size, 2)
    shard = len(train) // world.size
    has_rul = bool(np.isfinite(train.rul).any())
    has_risk = bool((train.risk >= 0).any())
    positives = float((train.risk == 1).sum())
    negatives = float((train.risk == 0).sum())
    pos_weight = torch.tensor(negatives / positives if positives else 1.0, device=device)

    def tensors(arrays: Arrays) -> tuple[torch.Tensor, ...]:
        return (torch.from_numpy(arrays.windows).to(device),
                torch.from_numpy(np.nan_to_num(arrays.rul / cap, nan=-1.0).astype(np.float32)).to(device),
                torch.from_numpy(arrays.risk.astype(np.float32)).to(device))

    x_train, y_train, r_train = tensors(train)
    x_val, y_val, r_val = tensors(val)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps = math.ceil(shard / batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=config.lr, total_steps=config.epochs * steps,
                                                   pct_start=0.2)
    bar = progress_bar(config.epochs * steps, progress)
    say = (lambda text: bar.write(text, file=sys.stderr)) if progress else log.info if world.main else (lambda text: None)
    best = (math.inf, 0, copy.deepcopy(network.state_dict()))
    history: list[dict[str, float]] = []
    start = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = torch.randperm(len(train), generator=generator)[: shard * world.size][world.rank :: world.size]
        order = order.to(device)
        total, seen = 0.0, 0
        for i in range(0, shard, batch_size):
            index = order[i : i + batch_size]
            loss = _loss(model, x_train[index], y_train[index], r_train[index], pos_weight, config.risk_weight)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimiser.step()
            schedule.step()
            total += float(loss.detach()) * len(index)
            seen += len(index)
            bar.update(1)
            bar.set_postfix(epoch=f"{epoch}/{config.epochs}", loss=f"{total / seen:.4f}")
        score = _validate(network, x_val, y_val, r_val, pos_weight, cap, has_rul, has_risk)
        score = dict(zip(score, same_everywhere(list(score.values()), device), strict=True))
        record = {"epoch": epoch, "train_loss": total / max(seen, 1), **score,
                  "seconds": time.perf_counter() - start}
        history.append(record)
        key = score["val_rmse"] if has_rul else score["val_risk_loss"]
        improved = key < best[0] - 1e-6
        if improved:
            best = (key, epoch, copy.deepcopy(network.state_dict()))
        say(f"epoch {epoch:3d}  loss {record['train_loss']:.4f}  "
            + (f"val RMSE {score['val_rmse']:.2f}  " if has_rul else "")
            + (f"val risk loss {score['val_risk_loss']:.4f}" if has_risk else "") + ("  *" if improved else ""))
        if epoch - best[1] >= config.patience:
            say(f"early stop: no validation improvement for {config.patience} epochs")
            break
    bar.close()
    network.load_state_dict(best[2])
    network = network.cpu().eval()
    return TrainedNetwork(network=network, config=config, cap=cap, channels=channels, device=device.type,
                          seconds=time.perf_counter() - start, best_epoch=best[1], history=history, world=world)


def _loss(network: nn.Module, x: torch.Tensor, y: torch.Tensor, r: torch.Tensor, pos_weight: torch.Tensor,
          risk_weight: float) -> torch.Tensor:
    quantiles, logit = network(x)
    loss = torch.zeros((), device=x.device)
    known = y >= 0
    if known.any():
        loss = loss + rul_loss(quantiles[known], y[known])
    labelled = r >= 0
    if labelled.any():
        loss = loss + risk_weight * F.binary_cross_entropy_with_logits(logit[labelled], r[labelled], pos_weight=pos_weight)
    return loss


@torch.no_grad()
def _validate(network: nn.Module, x: torch.Tensor, y: torch.Tensor, r: torch.Tensor, pos_weight: torch.Tensor,
              cap: float, has_rul: bool, has_risk: bool) -> dict[str, float]:
    network.eval()
    outputs = [network(x[i : i + 4096]) for i in range(0, len(x), 4096)]
    quantiles = torch.cat([o[0] for o in outputs])
    logit = torch.cat([o[1] for o in outputs])
    result = {}
    known = y >= 0
    if has_rul and known.any():
        result["val_rmse"] = float(torch.sqrt(((quantiles[known, 1] - y[known]) ** 2).mean()) * cap)
    elif has_rul:
        result["val_rmse"] = math.inf
    labelled = r >= 0
    if has_risk and labelled.any():
        result["val_risk_loss"] = float(F.binary_cross_entropy_with_logits(logit[labelled], r[labelled],
                                                                           pos_weight=pos_weight))
    elif has_risk:
        result["val_risk_loss"] = math.inf
    return result


def predict(network: nn.Module, windows: np.ndarray, batch: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Raw outputs (quantiles as fractions of the cap, risk logits) for numpy windows."""
    network.eval()
    with torch.inference_mode():
        parts = [network(torch.from_numpy(windows[i : i + batch])) for i in range(0, len(windows), batch)]
    if not parts:
        return np.zeros((0, 3), np.float32), np.zeros(0, np.float32)
    return torch.cat([p[0] for p in parts]).numpy(), torch.cat([p[1] for p in parts]).numpy()
