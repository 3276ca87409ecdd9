"""Pre-processing for the forecast models, fitted on training data only and kept in the card.

The steps, in order:

1. **Operating regimes.** Machines run at several loads or altitudes, and the raw sensor level
   mostly says which; wear is the small change within a regime. The settings columns are
   clustered (k-means, k chosen by silhouette, one regime when no clear clusters exist) and
   each row gets its nearest regime.
2. **Normalisation per regime.** Each sensor is z-scored with its own regime's mean and spread.
3. **Sensor selection.** Sensors that are constant within every regime, or whose normalised
   value does not move with remaining life (|Spearman| < 0.1 on the training rows), are dropped.
4. **Windows.** The model sees the last ``window`` rows of a run. A run shorter than that is
   padded by repeating its first row; shorter than ``min_history``, it is refused. An optional
   ``age`` channel (time since the run began, scaled) tells the model how long it has run.

:class:`Preprocessor` is plain numpy and travels as JSON in the card, so the line side applies
exactly what training fitted, with no torch and no pickles.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from factory_ai.forecast.targets import RowTargets
from factory_ai.history.frame import ASSET, TIME, History

log = logging.getLogger(__name__)
AGE = "age"
SPEARMAN_MIN = 0.1
SILHOUETTE_MIN = 0.8
SUMMARY_STATS = ("last", "mean", "std", "min", "max", "slope")


@dataclass
class Preprocessor:
    sensors: list[str]
    settings: list[str]
    settings_mean: list[float]
    settings_scale: list[float]
    centroids: list[list[float]]  # regime centres, in scaled settings units
    mean: list[list[float]]  # [regime][sensor]
    std: list[list[float]]
    window: int
    min_history: int
    use_age: bool
    age_scale: float
    time_unit: str
    dropped: dict[str, str]

    @property
    def channels(self) -> list[str]:
        return self.sensors + ([AGE] if self.use_age else [])

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Preprocessor:
        return cls(**data)

    # -- fitting (training data only) -----------------------------------------------------------
    @classmethod
    def fit(
        cls, history: History, targets: RowTargets, *, window: int, min_history: int, use_age: bool,
        select: bool = True, seed: int = 0,
    ) -> Preprocessor:
        frame = history.frame
        s_mean, s_scale, centroids = _fit_regimes(frame, history.settings, seed)
        regime = _assign(frame, history.settings, s_mean, s_scale, centroids)
        candidates = list(history.sensors)
        values = frame[candidates].to_numpy(np.float64)
        k = len(centroids)
        mean = np.zeros((k, len(candidates)))
        std = np.ones((k, len(candidates)))
        constant = np.ones(len(candidates), bool)
        for r in range(k):
            rows = values[regime == r]
            if len(rows) == 0:
                continue
            mean[r] = np.nanmean(rows, axis=0)
            spread = np.nanstd(rows, axis=0)
            tiny = spread <= 1e-8 * (np.abs(mean[r]) + 1.0)
            constant &= tiny
            std[r] = np.where(tiny, 1.0, spread)
        dropped = {}
        keep = []
        normalised = (values - mean[regime]) / std[regime]
        target = targets.rul if np.isfinite(targets.rul).any() else None
        for j, name in enumerate(candidates):
            if constant[j] or len(np.unique(values[:, j][np.isfinite(values[:, j])])) <= 1:
                dropped[name] = "constant within every regime"
                continue
            if select and target is not None:
                known = np.isfinite(target) & np.isfinite(normalised[:, j])
                rho = _spearman(normalised[known, j], target[known])
                if abs(rho) < SPEARMAN_MIN:
                    dropped[name] = f"uninformative (|Spearman| {abs(rho):.3f} with remaining life)"
                    continue
            keep.append(j)
        if not keep:
            raise ValueError("no usable sensor: every one is constant or unrelated to remaining life")
        ages = frame[TIME].to_numpy() - targets.run_start
        age_scale = float(np.percentile(ages, 99)) if use_age and len(ages) else 1.0
        return cls(
            sensors=[candidates[j] for j in keep], settings=list(history.settings),
            settings_mean=s_mean.tolist(), settings_scale=s_scale.tolist(), centroids=centroids.tolist(),
            mean=mean[:, keep].tolist(), std=std[:, keep].tolist(), window=int(window),
            min_history=int(min_history), use_age=bool(use_age), age_scale=max(age_scale, 1e-9),
            time_unit=history.time_unit, dropped=dropped,
        )

    # -- applying (training and line side alike) ------------------------------------------------
    def regimes(self, frame: pd.DataFrame) -> np.ndarray:
        return _assign(frame, self.settings, np.asarray(self.settings_mean), np.asarray(self.settings_scale),
                       np.asarray(self.centroids))

    def transform(self, frame: pd.DataFrame, run_start: np.ndarray) -> np.ndarray:
        """Rows -> normalised channels ``[n, C]`` (float32)."""
        regime = self.regimes(frame)
        values = frame[self.sensors].to_numpy(np.float64)
        out = (values - np.asarray(self.mean)[regime]) / np.asarray(self.std)[regime]
        if self.use_age:
            age = (frame[TIME].to_numpy() - run_start) / self.age_scale
            out = np.concatenate([out, age[:, None]], axis=1)
        return out.astype(np.float32)

    def windows(self, channels: np.ndarray, run_id: np.ndarray) -> np.ndarray:
        """One window ending at every row ``[n, window, C]``; runs are padded, never mixed."""
        if self.window == 1:
            return channels[:, None, :].astype(np.float32)
        out = np.empty((len(channels), self.window, channels.shape[1]), np.float32)
        # Rows of a run are contiguous (the history is sorted by asset, then time).
        edges = np.flatnonzero(np.diff(run_id)) + 1
        for lo, hi in zip(np.r_[0, edges], np.r_[edges, len(run_id)], strict=True):
            block = channels[lo:hi]
            padded = np.concatenate([np.repeat(block[:1], self.window - 1, axis=0), block])
            view = np.lib.stride_tricks.sliding_window_view(padded, self.window, axis=0)
            out[lo:hi] = view.transpose(0, 2, 1)
        return out

    def latest(self, history: History) -> tuple[list[str], np.ndarray, dict[str, str]]:
        """The last window of every asset's current run, and a reason for each asset that has none.

        Problems (non-finite values or duplicate times in the rows used, too short a history)
        cost that asset its prediction, never the others.
        """
        from factory_ai.forecast.targets import runs

        needed = self.settings + self.sensors
        missing = [c for c in needed if c not in history.frame.columns]
        if missing:
            return [], np.zeros((0, self.window, len(self.channels)), np.float32), {
                a: f"missing columns: {', '.join(missing)}" for a in history.assets()}
        _, start, _, _ = runs(history)
        errors: dict[str, str] = {}
        assets, rows = [], []
        frame = history.frame
        for asset, index in frame.groupby(ASSET, sort=False).indices.items():
            asset = str(asset)
            run_rows = index[start[index] == start[index[-1]]]
            recent = run_rows[-self.window:]
            block = frame.iloc[recent]
            bad = ~np.isfinite(block[needed].to_numpy(np.float64))
            if bad.any():
                columns = [needed[j] for j in np.flatnonzero(bad.any(axis=0))]
                errors[asset] = (f"{int(bad.any(axis=1).sum())} of the last {len(recent)} rows hold NaN or inf "
                                 f"(in {', '.join(columns)})")
                continue
            times = block[TIME].to_numpy()
            if len(np.unique(times)) < len(times):
                errors[asset] = f"duplicate timestamps in the last {len(recent)} rows"
                continue
            if len(run_rows) < self.min_history:
                errors[asset] = (f"history too short: {len(run_rows)} rows since the run began, "
                                 f"at least {self.min_history} needed")
                continue
            assets.append(asset)
            rows.append(recent)
        if not assets:
            return [], np.zeros((0, self.window, len(self.channels)), np.float32), errors
        windows = np.empty((len(assets), self.window, len(self.channels)), np.float32)
        for i, recent in enumerate(rows):
            channels = self.transform(frame.iloc[recent], start[recent])
            pad = self.window - len(channels)
            windows[i] = np.concatenate([np.repeat(channels[:1], pad, axis=0), channels]) if pad else channels
        return assets, windows, errors


def summarise(windows: np.ndarray) -> np.ndarray:
    """Window features for the gradient-boosting model: per channel last, mean, std, min, max,
    and least-squares slope over the window. ``[n, W, C] -> [n, 6 C]`` (float32); a window of
    one row (a snapshot table) is just its channels."""
    n, w, c = windows.shape
    if w == 1:
        return windows[:, 0, :].astype(np.float32)
    t = np.arange(w, dtype=np.float64) - (w - 1) / 2
    denom = float((t**2).sum()) or 1.0
    x = windows.astype(np.float64)
    slope = np.einsum("t,ntc->nc", t, x) / denom
    stats = [x[:, -1], x.mean(axis=1), x.std(axis=1), x.min(axis=1), x.max(axis=1), slope]
    return np.concatenate(stats, axis=1).astype(np.float32)


def summary_names(channels: list[str], window: int) -> list[str]:
    if window == 1:
        return list(channels)
    return [f"{stat}({name})" for stat in SUMMARY_STATS for name in channels]


def _fit_regimes(frame: pd.DataFrame, settings: list[str], seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not settings:
        return np.zeros(0), np.ones(0), np.zeros((1, 0))
    values = frame[settings].to_numpy(np.float64)
    values = values[np.isfinite(values).all(axis=1)]
    mean = values.mean(axis=0)
    scale = values.std(axis=0)
    scale[scale == 0] = 1.0
    scaled = (values - mean) / scale
    centre = scaled.mean(axis=0, keepdims=True)
    if len(scaled) < 20:
        return mean, scale, centre
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(seed)
    sample = scaled[rng.choice(len(scaled), size=min(len(scaled), 4000), replace=False)]
    best = (SILHOUETTE_MIN, centre)
    distinct = len(np.unique(np.round(sample, 6), axis=0))
    for k in range(2, 9):
        if k >= len(sample) or k > distinct:
            break
        model = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(sample)
        if len(set(model.labels_)) < 2:
            continue
        score = silhouette_score(sample, model.labels_, sample_size=min(len(sample), 2000), random_state=seed)
        if score > best[0]:
            best = (score, model.cluster_centers_)
    log.info("operating regimes: %d (silhouette %.3f)", len(best[1]), best[0] if len(best[1]) > 1 else float("nan"))
    centroids = best[1]
    # Stable order, so the same data gives the same card.
    centroids = centroids[np.lexsort(centroids.T[::-1])]
    return mean, scale, centroids


def _assign(frame: pd.DataFrame, settings: list[str], mean: np.ndarray, scale: np.ndarray,
            centroids: np.ndarray) -> np.ndarray:
    if not settings or len(centroids) <= 1:
        return np.zeros(len(frame), np.int64)
    scaled = (frame[settings].to_numpy(np.float64) - mean) / scale
    distance = ((scaled[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)
    return np.nan_to_num(distance, nan=np.inf).argmin(axis=1)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3:
        return 0.0
    ra = pd.Series(a).rank().to_numpy()
    rb = pd.Series(b).rank().to_numpy()
    if ra.std() == 0 or rb.std() == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])
