"""The two models of normal behaviour, as torch modules with the line side's outputs.

Both take windows of regime-normalised rows ``[N, W, C]`` and return ``(score [N],
contribution [N, C])``: the score divided by its median on the training windows, and how much
of it each sensor explains (see ``health.model``).

- :class:`PCAMember`: principal components fitted in closed form on the normal rows. A window
  is scored by its mean row: wear is a drift that lasts the whole window, while each sensor's
  noise changes from row to row, so averaging the rows first shrinks the noise (by the window
  length when it is independent) and leaves the drift whole. Scoring every row and averaging
  the scores, as this member first did, kept every row's noise in the index, and with it the
  false alarms (``bench/health.py``: C-MAPSS FD001 went from 5 false alarms to 2, FD002 from
  71 to 78 of 78 engines caught). Hotelling's T² measures how far the mean row sits inside the
  plane normal operation spans (in units of each component's own spread); the squared
  prediction error (Q, SPE) how far it leaves that plane.
  The two are weighed by their training medians into one quadratic index ``z' M z``. Those
  medians are still taken over single rows: on a mean row the residual's noise shrinks more
  than T²'s slow variation, so Q counts for less than an equal share (recalibrating them on
  window means is a change still to be measured). The price of the mean row: a sensor that
  turns erratic without drifting (noise flipping from row to row) no longer moves this
  member; the autoencoder, which rebuilds the whole window, still sees it. Sensors are named
  by reconstruction-based contributions (Alcalá and Qin, 2009): how much of the index would
  vanish if that sensor alone were corrected, ``(M z)_j² / M_jj``. Unlike splitting T² term by
  term, this does not smear a fault onto sensors that did not move. The shares, not the sum,
  are what the line side uses.
- :class:`AutoencoderMember`: a dense autoencoder over the flattened window, trained to rebuild
  normal windows through a narrow middle; its squared rebuilding error per sensor is the
  contribution. It holds relations between sensors and over time that a plane cannot.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

VARIANCE_KEPT = 0.9  # the PCA keeps the components that explain this share of normal variance


class PCAMember(nn.Module):
    def __init__(self, mean: np.ndarray, components: np.ndarray, variances: np.ndarray, t2_scale: float,
                 q_scale: float, q_weight: float) -> None:
        super().__init__()
        c = len(mean)
        p = np.asarray(components, np.float64)
        index = ((1.0 - q_weight) / t2_scale) * (p / variances) @ p.T + (q_weight / q_scale) * (np.eye(c) - p @ p.T)
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("index", torch.as_tensor(index, dtype=torch.float32))  # [C, C], symmetric
        self.register_buffer("diagonal", torch.as_tensor(np.maximum(np.diag(index), 1e-12), dtype=torch.float32))
        self.register_buffer("scale", torch.ones(()))  # median training score, set after fitting

    def forward(self, windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = (windows - self.mean).mean(dim=1)  # the window's mean row (see the module's docstring)
        mz = z @ self.index  # [N, C]
        score = (mz * z).sum(dim=-1) / self.scale
        contribution = (mz**2 / self.diagonal) / self.scale
        return score, contribution


def fit_pca(rows: np.ndarray, window_rows: np.ndarray) -> PCAMember:
    """Closed-form PCA on normal rows ``[M, C]``; scales set on the training windows."""
    rows = rows.astype(np.float64)
    mean = rows.mean(axis=0)
    centred = rows - mean
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    variances = s**2 / max(len(rows) - 1, 1)
    total = variances.sum()
    share = np.cumsum(variances) / total if total > 0 else np.ones_like(variances)
    c = rows.shape[1]
    k = int(np.searchsorted(share, VARIANCE_KEPT) + 1)
    k = max(1, min(k, c - 1)) if c > 1 else 1
    components = vt[:k].T
    kept = np.maximum(variances[:k], 1e-6 * max(total, 1e-12) + 1e-12)
    z = centred
    t = z @ components
    t2 = (t**2 / kept).sum(axis=1)
    q = ((z - t @ components.T) ** 2).sum(axis=1)
    q_weight = 0.5 if k < c else 0.0
    member = PCAMember(mean, components, kept, max(float(np.median(t2)), 1e-9), max(float(np.median(q)), 1e-9),
                       q_weight)
    member.scale.fill_(max(_median_score(member, window_rows), 1e-9))
    return member


class AutoencoderMember(nn.Module):
    def __init__(self, window: int, channels: int, hidden: int, bottleneck: int) -> None:
        super().__init__()
        size = window * channels
        self.window, self.channels = window, channels
        self.encode = nn.Sequential(nn.Linear(size, hidden), nn.GELU(), nn.Linear(hidden, bottleneck))
        self.decode = nn.Sequential(nn.Linear(bottleneck, hidden), nn.GELU(), nn.Linear(hidden, size))
        self.register_buffer("scale", torch.ones(()))

    def rebuild(self, windows: torch.Tensor) -> torch.Tensor:
        flat = windows.reshape(windows.shape[0], -1)
        return self.decode(self.encode(flat)).reshape(windows.shape)

    def forward(self, windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        part = ((windows - self.rebuild(windows)) ** 2).mean(dim=1) / self.scale
        return part.sum(dim=1), part


def fit_autoencoder(train: np.ndarray, val: np.ndarray, *, epochs: int, seed: int, threads: int,
                    progress: bool = False) -> tuple[AutoencoderMember, list[dict[str, float]]]:
    """Train on normal windows ``[M, W, C]`` (denoising: inputs get a little noise), keep the
    epoch with the lowest validation error, and set the score scale on the training windows."""
    from factory_ai.training import progress as progress_bar
    from factory_ai.training import seed_everything, set_threads

    generator = seed_everything(seed)
    set_threads(threads)
    _, w, c = train.shape
    size = w * c
    network = AutoencoderMember(w, c, hidden=max(16, min(128, 2 * size)), bottleneck=max(2, min(16, c // 2 + 1)))
    optimiser = torch.optim.AdamW(network.parameters(), lr=3e-3, weight_decay=1e-4)
    x = torch.from_numpy(np.ascontiguousarray(train, np.float32))
    xv = torch.from_numpy(np.ascontiguousarray(val, np.float32))
    batch = 256
    steps = max(1, min(200, int(np.ceil(len(x) / batch))))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=3e-3, total_steps=epochs * steps)
    best = (float("inf"), 0, {k: v.clone() for k, v in network.state_dict().items()})
    history: list[dict[str, float]] = []
    bar = progress_bar(epochs * steps, progress)
    for epoch in range(1, epochs + 1):
        network.train()
        total = 0.0
        for _ in range(steps):
            index = torch.randint(0, len(x), (min(batch, len(x)),), generator=generator)
            clean = x[index]
            noisy = clean + 0.05 * torch.randn(clean.shape, generator=generator)
            loss = ((network.rebuild(noisy) - clean) ** 2).mean()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            total += float(loss.detach())
            bar.update(1)
        network.eval()
        with torch.no_grad():
            val_loss = float(((network.rebuild(xv) - xv) ** 2).mean()) if len(xv) else total / steps
        history.append({"epoch": epoch, "train_loss": total / steps, "val_loss": val_loss})
        if val_loss < best[0] - 1e-6:
            best = (val_loss, epoch, {k: v.clone() for k, v in network.state_dict().items()})
        elif epoch - best[1] >= 10:
            break
    bar.close()
    network.load_state_dict(best[2])
    network.eval()
    network.scale.fill_(max(_median_score(network, train), 1e-9))
    return network, history


@torch.no_grad()
def _median_score(member: nn.Module, windows: np.ndarray) -> float:
    member.eval()
    if windows.ndim == 2:
        windows = windows[:, None, :]
    scores = []
    for i in range(0, len(windows), 4096):
        scores.append(member(torch.from_numpy(np.ascontiguousarray(windows[i:i + 4096], np.float32)))[0].numpy())
    return float(np.median(np.concatenate(scores))) if scores else 1.0


@torch.no_grad()
def member_outputs(member: nn.Module, windows: np.ndarray) -> dict[str, np.ndarray]:
    """What the member's ONNX graph will return, from torch (for parity and for choosing)."""
    member.eval()
    scores, parts = [], []
    for i in range(0, len(windows), 4096):
        s, p = member(torch.from_numpy(np.ascontiguousarray(windows[i:i + 4096], np.float32)))
        scores.append(s.numpy())
        parts.append(p.numpy())
    c = windows.shape[2]
    return {"score": np.concatenate(scores) if scores else np.zeros(0, np.float32),
            "contribution": np.concatenate(parts) if parts else np.zeros((0, c), np.float32)}
