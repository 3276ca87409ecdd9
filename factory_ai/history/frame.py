"""Sensor history in one shape, whatever file or database it came from.

Why one shape: C-MAPSS text files, plant CSV exports, Parquet, the AI4I table and the store
all describe the same thing (assets, a time axis, sensor columns, sometimes operating-setting
columns, and the events that end a run), so the rest of the forecast code reads only this.

A :class:`History` is a wide table sorted by asset and time with the columns ``asset`` (text),
``time`` (float: cycles, or hours for timestamped data) and one float column per setting and
sensor, plus the failure and maintenance times per asset. Checking it (:meth:`problems`) never
raises: it lists what is wrong per asset, so one bad machine never stops the others.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

ASSET, TIME = "asset", "time"
EPOCH = pd.Timestamp("1970-01-01", tz="UTC")


def to_hours(stamps: pd.Series) -> np.ndarray:
    """UTC timestamps as the time axis of timestamped data: hours since 1970 (NaT gives NaN)."""
    return (stamps - EPOCH).dt.total_seconds().to_numpy() / 3600.0


def from_hours(hours: np.ndarray | pd.Series | float) -> pd.DatetimeIndex:
    """The time axis back to UTC timestamps, to the millisecond (what exports and the store hold)."""
    return pd.to_datetime(np.round(np.asarray(hours, dtype=np.float64).reshape(-1) * 3_600_000).astype(np.int64),
                          unit="ms", utc=True)


def as_text(value: Any) -> Any:  # noqa: ANN401 - a string for a number, a Series for a Series or an array
    """Hours since 1970 back to UTC text, to the millisecond (what the CSV exports for the
    training commands hold): a string for one value, a Series for many."""
    text = from_hours(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if np.ndim(value) == 0:
        return text[0]
    return pd.Series(text, index=getattr(value, "index", None))


@dataclass
class History:
    frame: pd.DataFrame
    sensors: list[str]
    settings: list[str] = field(default_factory=list)
    time_unit: str = "cycle"
    failures: dict[str, list[float]] = field(default_factory=dict)
    maintenance: dict[str, list[float]] = field(default_factory=dict)
    # Remaining life after each asset's last row, when known (C-MAPSS test files ship it).
    true_rul: dict[str, float] | None = None
    # Per-row failure labels, for tables of independent snapshots (AI4I) rather than runs.
    labels: np.ndarray | None = None

    @property
    def columns(self) -> list[str]:
        return self.settings + self.sensors

    def assets(self) -> list[str]:
        return list(pd.unique(self.frame[ASSET]))

    def per_asset(self) -> dict[str, pd.DataFrame]:
        return {str(a): g for a, g in self.frame.groupby(ASSET, sort=False)}

    def problems(self, columns: list[str] | None = None) -> dict[str, str]:
        """What makes each asset's data unusable: ``{asset: message}`` (empty when all is well).

        Checks non-finite values, duplicate times, and (for the ``columns`` a model needs)
        missing columns. Out-of-order rows are not a problem here: readers sort them.
        """
        wanted = columns if columns is not None else self.columns
        missing = [c for c in wanted if c not in self.frame.columns]
        if missing:
            return {a: f"missing columns: {', '.join(missing)}" for a in self.assets()}
        found: dict[str, list[str]] = defaultdict(list)
        values = self.frame[wanted].to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(values)
        if bad.any():
            rows = np.flatnonzero(bad.any(axis=1))
            for asset, group in self.frame.iloc[rows].groupby(ASSET, sort=False):
                positions = self.frame.index.get_indexer(group.index)
                cols = [wanted[j] for j in np.flatnonzero(bad[positions].any(axis=0))]
                found[str(asset)].append(f"{len(group)} rows with NaN or inf (in {', '.join(cols)})")
        duplicated = self.frame.duplicated([ASSET, TIME], keep=False)
        if duplicated.any():
            for asset, group in self.frame[duplicated].groupby(ASSET, sort=False):
                times = ", ".join(f"{t:g}" for t in sorted(set(group[TIME]))[:5])
                found[str(asset)].append(f"duplicate timestamps at {self.time_unit} {times}")
        return {a: "; ".join(msgs) for a, msgs in found.items()}

    def select(self, assets: list[str]) -> History:
        keep = self.frame[ASSET].isin(assets)
        return History(
            frame=self.frame[keep].reset_index(drop=True), sensors=self.sensors, settings=self.settings,
            time_unit=self.time_unit,
            failures={a: t for a, t in self.failures.items() if a in assets},
            maintenance={a: t for a, t in self.maintenance.items() if a in assets},
            true_rul=None if self.true_rul is None else {a: r for a, r in self.true_rul.items() if a in assets},
            labels=None if self.labels is None else self.labels[keep.to_numpy()],
        )


def build(
    frame: pd.DataFrame,
    *,
    asset: str,
    time: str,
    sensors: list[str] | None = None,
    settings: list[str] | None = None,
    time_unit: str | None = None,
) -> tuple[History, list[str]]:
    """Make a :class:`History` from a wide table; returns it and notes about what was fixed.

    Timestamps (datetime or ISO text) become hours since the epoch; rows are sorted by asset and
    time (a note says so when they were out of order). Non-numeric values become NaN, which
    :meth:`History.problems` then reports for the asset concerned.
    """
    notes: list[str] = []
    if asset not in frame.columns or time not in frame.columns:
        missing = [c for c in (asset, time) if c not in frame.columns]
        raise KeyError(f"missing columns: {', '.join(missing)} (have: {', '.join(map(str, frame.columns[:12]))})")
    settings = list(settings or [])
    if sensors is None:
        sensors = [c for c in frame.columns if c not in (asset, time, *settings)]
    out = pd.DataFrame({ASSET: frame[asset].astype(str).to_numpy()})
    raw_time = frame[time]
    if time_unit == "hour" or (time_unit is None and not pd.api.types.is_numeric_dtype(raw_time)):
        stamps = pd.to_datetime(raw_time, utc=True, errors="coerce")
        if stamps.isna().any():
            raise ValueError(f"column {time!r}: {int(stamps.isna().sum())} values are neither numbers nor timestamps")
        out[TIME] = to_hours(stamps)
        unit = "hour"
    else:
        out[TIME] = pd.to_numeric(raw_time, errors="coerce").to_numpy(dtype=np.float64)
        unit = time_unit or "cycle"
    for column in settings + sensors:
        out[column] = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
    # Assets keep the order of their first row; within an asset, rows go by time.
    order = np.lexsort((out[TIME].to_numpy(), pd.factorize(out[ASSET])[0]))
    unsorted = [a for a, g in out.groupby(ASSET, sort=False) if not g[TIME].is_monotonic_increasing]
    if unsorted:
        notes.append(f"rows out of time order for {len(unsorted)} assets ({', '.join(unsorted[:5])}); sorted")
    out = out.iloc[order].reset_index(drop=True)
    return History(frame=out, sensors=list(sensors), settings=settings, time_unit=unit), notes
