"""Forecast data: readers, targets and the fitted pre-processing (no training)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from factory_ai.errors import DataError
from factory_ai.forecast.features import Preprocessor, summarise, summary_names
from factory_ai.forecast.targets import label_rows, runs
from factory_ai.history.frame import build
from factory_ai.history.readers import AI4I_LEAKS, read


def _cmapss_lines(units: dict[int, int], rng: np.random.Generator) -> str:
    lines = []
    for unit, cycles in units.items():
        for c in range(1, cycles + 1):
            values = [unit, c, *rng.normal(0, 1, 3).round(4), *(rng.normal(500, 5, 21).round(2))]
            lines.append(" ".join(str(v) for v in values) + "  ")  # trailing spaces, as NASA ships them
    return "\n".join(lines) + "\n"


def test_cmapss_train_is_run_to_failure_and_test_takes_truth_from_rul_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    (tmp_path / "train_FD009.txt").write_text(_cmapss_lines({1: 30, 2: 25}, rng))
    (tmp_path / "test_FD009.txt").write_text(_cmapss_lines({1: 12, 2: 20, 3: 7}, rng))
    (tmp_path / "RUL_FD009.txt").write_text("40 \n15 \n90 \n")
    train, _ = read(tmp_path / "train_FD009.txt")
    assert train.assets() == ["1", "2"] and len(train.sensors) == 21 and len(train.settings) == 3
    assert train.failures == {"1": [30.0], "2": [25.0]}
    test, notes = read(tmp_path / "test_FD009.txt")
    assert test.failures == {} and test.true_rul == {"1": 40.0, "2": 15.0, "3": 90.0}
    assert any("RUL_FD009" in n for n in notes)
    (tmp_path / "RUL_FD009.txt").write_text("40\n15\n")
    with pytest.raises(DataError, match="2 values for 3 units"):
        read(tmp_path / "test_FD009.txt")


def test_cmapss_wrong_column_count_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "train_FD001.txt").write_text("1 1 0.1 0.2\n1 2 0.1 0.2\n")
    with pytest.raises(DataError, match="26 columns"):
        read(tmp_path / "train_FD001.txt")


def test_ai4i_reader_never_uses_the_failure_mode_flags(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    n = 50
    frame = pd.DataFrame({
        "UDI": np.arange(1, n + 1), "Product ID": [f"M{i}" for i in range(n)], "Type": rng.choice(["L", "M", "H"], n),
        "Air temperature [K]": rng.normal(300, 2, n), "Process temperature [K]": rng.normal(310, 1, n),
        "Rotational speed [rpm]": rng.normal(1500, 100, n), "Torque [Nm]": rng.normal(40, 10, n),
        "Tool wear [min]": rng.integers(0, 250, n), "Machine failure": (np.arange(n) % 10 == 0).astype(int)})
    for flag in AI4I_LEAKS:
        frame[flag] = frame["Machine failure"]
    frame.to_csv(tmp_path / "ai4i2020.csv", index=False)
    history, _ = read(tmp_path / "ai4i2020.csv")
    assert not set(AI4I_LEAKS) & set(history.frame.columns)
    assert "Machine failure" not in history.sensors
    assert history.labels.tolist() == frame["Machine failure"].tolist()
    assert {"type_L", "type_M", "type_H"} <= set(history.sensors)


def test_long_table_is_pivoted_and_unordered_rows_are_sorted_with_a_note(tmp_path: Path) -> None:
    long = pd.DataFrame({
        "machine": ["a", "a", "a", "a", "b", "b"],
        "ts": ["2026-01-01T02:00:00Z", "2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z", "2026-01-01T01:00:00Z",
               "2026-01-01T01:00:00Z", "2026-01-01T01:00:00Z"],
        "sensor": ["temp", "temp", "vib", "vib", "temp", "temp"],
        "value": [2.0, 1.0, 20.0, 10.0, 5.0, 6.0]})
    long.to_csv(tmp_path / "long.csv", index=False)
    history, notes = read(tmp_path / "long.csv", "csv", asset_col="machine", time_col="ts")
    assert history.time_unit == "hour"
    a = history.frame[history.frame["asset"] == "a"]
    assert a["temp"].tolist() == [1.0, 2.0] and a["vib"].tolist() == [10.0, 20.0]
    assert np.diff(a["time"]).tolist() == [1.0]
    assert any("repeated" in n for n in notes)  # b has two temp readings at one time: the first is kept
    wide = pd.DataFrame({"asset": ["a", "a", "a"], "time": [3, 1, 2], "x": [30.0, 10.0, 20.0]})
    wide.to_csv(tmp_path / "wide.csv", index=False)
    history, notes = read(tmp_path / "wide.csv", "csv")
    assert history.frame["x"].tolist() == [10.0, 20.0, 30.0]
    assert any("out of time order for 1 assets" in n for n in notes)


def test_missing_time_column_names_what_is_there(tmp_path: Path) -> None:
    pd.DataFrame({"asset": ["a"], "t": [1], "x": [1.0]}).to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(DataError, match="missing columns: time"):
        read(tmp_path / "d.csv", "csv")


def _history(rows: dict[str, list[float]], **extra):  # noqa: ANN003, ANN202
    frame = pd.DataFrame([{"asset": a, "time": t, **{k: v[i] for k, v in extra.items()}} for a, times in rows.items()
                          for i, t in enumerate(times)])
    history, _ = build(frame, asset="asset", time="time", sensors=list(extra), time_unit="cycle")
    return history


def test_targets_are_capped_and_censored_runs_only_teach_what_is_known() -> None:
    times = [float(t) for t in range(0, 100)]
    history = _history({"m": times}, x=list(range(100)))
    history.failures = {"m": [59.0]}
    history.maintenance = {}
    # One run ends in a failure at 59; the rest (60..99) is still going.
    targets = label_rows(history, cap=30, horizon=10)
    run_id, _, _, failed = runs(history)
    assert run_id[0] == 0 and run_id[60] == 1 and failed[0] and not failed[60]
    assert targets.rul[59] == 0 and targets.rul[49] == 10 and targets.rul[0] == 30  # capped
    assert targets.risk[49] == 1 and targets.risk[48] == 0
    # Censored run: 39 left at row 60 (known >= 30: capped target known), 9 left at row 90 (unknown).
    assert targets.rul[60] == 30 and np.isnan(targets.rul[90])
    assert targets.risk[60] == 0 and targets.risk[95] == -1


def test_preprocessor_normalises_per_regime_drops_useless_sensors_and_pads_windows() -> None:
    rng = np.random.default_rng(2)
    frames = []
    for a in range(6):
        n = 80
        setting = rng.choice([0.0, 10.0, 20.0], n)
        wear = np.linspace(0, 1, n) ** 2
        frames.append(pd.DataFrame({"asset": f"u{a}", "time": np.arange(n, dtype=float), "s": setting,
                                    "level": 100 + 50 * setting + 5 * wear + rng.normal(0, 0.1, n),
                                    "flat": np.full(n, 3.0), "noise": rng.normal(0, 1, n)}))
    history, _ = build(pd.concat(frames), asset="asset", time="time", sensors=["level", "flat", "noise"],
                       settings=["s"], time_unit="cycle")
    history.failures = {f"u{a}": [79.0] for a in range(6)}
    targets = label_rows(history, cap=50, horizon=10)
    pre = Preprocessor.fit(history, targets, window=10, min_history=3, use_age=True)
    assert len(pre.centroids) == 3
    assert pre.sensors == ["level"]
    assert "constant" in pre.dropped["flat"] and "uninformative" in pre.dropped["noise"]
    channels = pre.transform(history.frame, targets.run_start)
    assert abs(float(channels[:, 0].mean())) < 0.05 and pre.channels == ["level", "age"]
    windows = pre.windows(channels, targets.run_id)
    assert windows.shape == (len(history.frame), 10, 2)
    # The first row of a run is padded with itself, never with the previous asset's rows.
    first_of_u1 = int(np.flatnonzero(history.frame["asset"].to_numpy() == "u1")[0])
    assert np.all(windows[first_of_u1] == channels[first_of_u1])
    # The card round trip gives the same transformation.
    again = Preprocessor.from_dict(pre.as_dict())
    assert np.array_equal(again.transform(history.frame, targets.run_start), channels)
    features = summarise(windows)
    assert features.shape == (len(windows), 12) and len(summary_names(pre.channels, 10)) == 12


def test_latest_window_reports_each_bad_asset_and_keeps_the_rest() -> None:
    times = [float(t) for t in range(30)]
    history = _history({"good": times, "nan": times, "dup": times[:-1] + [28.0], "short": times[:2]},
                       x=[float(i) for i in range(30)])
    history.frame.loc[(history.frame["asset"] == "nan").to_numpy() & (history.frame["time"] == 29).to_numpy(), "x"] = np.nan
    pre = Preprocessor(sensors=["x"], settings=[], settings_mean=[], settings_scale=[], centroids=[[]], mean=[[0.0]],
                       std=[[1.0]], window=8, min_history=5, use_age=False, age_scale=1.0, time_unit="cycle",
                       dropped={})
    assets, windows, errors = pre.latest(history)
    assert assets == ["good"] and windows.shape == (1, 8, 1)
    assert windows[0, -1, 0] == 29.0
    assert "NaN or inf" in errors["nan"] and "duplicate" in errors["dup"] and "too short" in errors["short"]
    history.frame = history.frame.drop(columns=["x"])
    _, _, errors = pre.latest(history)
    assert all("missing columns: x" in e for e in errors.values())


def test_parquet_history_reads_like_csv(tmp_path: Path) -> None:
    frame = pd.DataFrame({"asset": ["a"] * 3 + ["b"] * 2, "time": [1, 2, 3, 1, 2],
                          "temp": [1.0, 2.0, 3.0, 4.0, 5.0]})
    frame.to_parquet(tmp_path / "h.parquet")
    history, _ = read(tmp_path / "h.parquet", run_to_failure=True)
    assert history.assets() == ["a", "b"] and history.sensors == ["temp"]
    assert history.failures == {"a": [3.0], "b": [2.0]}
