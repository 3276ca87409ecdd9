"""Line-side forecasting: the latest window of every asset through the model, one result each.

Why a result per asset, errors included: a plant feeds many machines through one call, and one
machine's broken sensor (NaN), a gap in its history or a missing column must cost that machine
its forecast, with a reason a person can act on, never the whole run.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from factory_ai.forecast.model import ForecastModel
from factory_ai.history.frame import ASSET, TIME, History


@dataclass
class AssetForecast:
    asset: str
    rul: float | None
    rul_low: float | None
    rul_high: float | None
    risk: float | None
    horizon: float
    error: str | None = None
    time: float | None = None  # the time of the last row used (cycles, or hours since 1970)

    def as_json(self) -> dict:
        out = asdict(self)
        out.pop("time")
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in out.items()}

    def text(self, time_unit: str) -> str:
        if self.error:
            return f"{self.asset}\terror: {self.error}"
        parts = [self.asset]
        if self.rul is not None:
            parts.append(f"RUL {self.rul:.1f} {time_unit}s [{self.rul_low:.1f}, {self.rul_high:.1f}]")
        if self.risk is not None:
            parts.append(f"risk {self.risk:.1%} within {self.horizon:g} {time_unit}s")
        return "\t".join(parts)


def forecast_assets(model: ForecastModel, history: History, assets: list[str] | None = None) -> list[AssetForecast]:
    """One :class:`AssetForecast` per asset in the history (or per asked-for asset), in order."""
    horizon = model.horizon
    present = history.assets()
    wanted = present if not assets else list(dict.fromkeys(assets))
    if assets:
        history = history.select([a for a in wanted if a in present])
    names, windows, errors = model.preprocessor.latest(history)
    forecast = model.predict(windows)
    last_time = history.frame.groupby(ASSET, sort=False)[TIME].max().to_dict()
    by_asset: dict[str, AssetForecast] = {}
    for i, name in enumerate(names):
        by_asset[name] = AssetForecast(
            asset=name, rul=_number(forecast.rul[i]), rul_low=_number(forecast.rul_low[i]),
            rul_high=_number(forecast.rul_high[i]), risk=_number(forecast.risk[i]), horizon=horizon,
            time=float(last_time[name]))
    results = []
    for name in wanted:
        if name in by_asset:
            results.append(by_asset[name])
        else:
            reason = errors.get(name) or "unknown asset: no readings for it in the data"
            results.append(AssetForecast(asset=name, rul=None, rul_low=None, rul_high=None, risk=None,
                                         horizon=horizon, error=reason))
    return results


def _number(value: float) -> float | None:
    value = float(value)
    return round(value, 4) if np.isfinite(value) else None
