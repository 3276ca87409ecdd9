"""A plain peer for the benchmark: a convolutional autoencoder's reconstruction error.

Why keep it: the shipped detector (synthetic-flaw segmentation) has to earn its place against
the obvious alternative, measured on the same images in the same run. This one learns to
rebuild good parts and scores a part by how badly it rebuilds it: the highest cell of the
reconstruction error at 1/4 of the canvas, the same pooling as the detector's score. It is not
exported or shipped; ``bench/anomaly.py`` trains and scores it in torch.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from factory_ai.anomaly.train.fit import AnomalyConfig
from factory_ai.training import seed_everything, set_threads
from factory_ai.vision.train.augment import augment


class AutoEncoder(nn.Module):
    def __init__(self, channels: int, width: int = 24, mean: float = 128.0, std: float = 40.0) -> None:
        super().__init__()
        self.mean, self.std = mean, std
        w = width

        def down(a: int, b: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(a, b, 3, 2, 1), nn.BatchNorm2d(b), nn.ReLU(inplace=True))

        def up(a: int, b: int) -> nn.Sequential:
            return nn.Sequential(nn.ConvTranspose2d(a, b, 4, 2, 1), nn.BatchNorm2d(b), nn.ReLU(inplace=True))

        self.encode = nn.Sequential(down(channels, w), down(w, 2 * w), down(2 * w, 4 * w), down(4 * w, 4 * w))
        self.decode = nn.Sequential(up(4 * w, 4 * w), up(4 * w, 2 * w), up(2 * w, w),
                                    nn.ConvTranspose2d(w, channels, 4, 2, 1))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = (pixels.float() - self.mean) / self.std
        return self.decode(self.encode(x))

    @torch.no_grad()
    def score(self, pixels: torch.Tensor) -> np.ndarray:
        x = (pixels.float() - self.mean) / self.std
        error = (self.decode(self.encode(x)) - x).abs().mean(dim=1, keepdim=True)
        return F.avg_pool2d(error, 4).amax(dim=(1, 2, 3)).numpy()


def fit_and_score(train: np.ndarray, tests: list[np.ndarray], *, epochs: int = AnomalyConfig.epochs, batch: int = 16,
                  steps: int = 32, seed: int = 0, threads: int = 0) -> tuple[list[np.ndarray], float]:
    """Train on good pixels ``[N, C, H, W]``; return the scores of each array in ``tests`` and the seconds."""
    generator = seed_everything(seed)
    set_threads(threads)
    model = AutoEncoder(int(train.shape[1]), mean=float(train.mean()), std=float(train.std()) + 1e-3)
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    x = torch.from_numpy(train)
    per_epoch = max(steps, len(train) // batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=2e-3, total_steps=epochs * per_epoch)
    start = time.perf_counter()
    model.train()
    for _ in range(epochs):
        for _ in range(per_epoch):
            index = torch.randint(0, len(train), (batch,), generator=generator)
            batch_px = augment(x[index], generator, 0.5)
            target = (batch_px - model.mean) / model.std
            loss = F.mse_loss(model(batch_px), target)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
    seconds = time.perf_counter() - start
    model.eval()
    scores = [np.concatenate([model.score(torch.from_numpy(t[i:i + 32])) for i in range(0, len(t), 32)])
              if len(t) else np.zeros(0) for t in tests]
    return scores, seconds
