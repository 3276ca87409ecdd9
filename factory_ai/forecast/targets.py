"""What the forecast learns: remaining useful life and failure within a horizon, per row.

An asset's history is cut into runs at its failure and maintenance events. In a run that
ends in a failure, every row's remaining life is known. In a run that ends in maintenance,
or has not ended yet, it is only known to be at least the time left in the run (censored).
Such a row still teaches two things: if at least ``cap`` remains, the capped target is ``cap``
exactly; if at least ``horizon`` remains, there was no failure within the horizon.

RUL targets are capped (piecewise linear): early in life the sensors show no wear, so a model
cannot tell 300 cycles from 200, and rewarding it for guessing would only add noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from factory_ai.history.frame import ASSET, TIME, History


@dataclass
class RowTargets:
    run_start: np.ndarray  # time at which each row's run began (age = time - run_start)
    run_id: np.ndarray  # runs never share a window
    rul: np.ndarray  # capped RUL, NaN where unknown
    risk: np.ndarray  # 1 failure within horizon, 0 none, -1 unknown
    rul_uncapped: np.ndarray  # the remaining life itself where the run ended in a failure, else NaN

    def known_rul(self) -> np.ndarray:
        return ~np.isnan(self.rul)

    def known_risk(self) -> np.ndarray:
        return self.risk >= 0


def runs(history: History) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per row: run id, run start time, run end time, and whether the run ended in a failure."""
    n = len(history.frame)
    run_id = np.zeros(n, np.int64)
    start = np.zeros(n)
    end = np.zeros(n)
    failed = np.zeros(n, bool)
    next_id = 0
    times_all = history.frame[TIME].to_numpy()
    for asset, rows in history.frame.groupby(ASSET, sort=False).indices.items():
        times = times_all[rows]
        events = sorted([(t, True) for t in history.failures.get(str(asset), [])]
                        + [(t, False) for t in history.maintenance.get(str(asset), [])])
        lo = 0
        run_begin = times[0] if len(times) else 0.0
        for when, is_failure in events:
            hi = int(np.searchsorted(times, when, side="right"))
            if hi > lo:
                idx = rows[lo:hi]
                run_id[idx], start[idx], end[idx], failed[idx] = next_id, run_begin, when, is_failure
                next_id += 1
            lo = hi
            if lo < len(times):
                run_begin = times[lo]
        if lo < len(times):  # the run still going on at the end of the data
            idx = rows[lo:]
            run_id[idx], start[idx], end[idx], failed[idx] = next_id, run_begin, times[-1], False
            next_id += 1
    return run_id, start, end, failed


def label_rows(history: History, cap: float, horizon: float) -> RowTargets:
    run_id, start, end, failed = runs(history)
    left = end - history.frame[TIME].to_numpy()
    rul = np.where(failed, np.minimum(left, cap), np.where(left >= cap, cap, np.nan))
    risk = np.where(failed, (left <= horizon).astype(np.int8), np.where(left > horizon, 0, -1)).astype(np.int8)
    return RowTargets(run_start=start, run_id=run_id, rul=rul, risk=risk, rul_uncapped=np.where(failed, left, np.nan))


def snapshot_targets(history: History) -> RowTargets:
    """Tables of independent snapshots (AI4I): each row is its own run, labelled directly."""
    n = len(history.frame)
    assert history.labels is not None
    return RowTargets(run_start=history.frame[TIME].to_numpy(), run_id=np.arange(n),
                      rul=np.full(n, np.nan), risk=history.labels.astype(np.int8), rul_uncapped=np.full(n, np.nan))
