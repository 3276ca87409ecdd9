"""The forecast's fit -> ONNX -> predict chain on the synthetic fleet (small and quick)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from factory_ai.errors import ModelError
from factory_ai.forecast.model import ForecastModel
from factory_ai.forecast.predict import forecast_assets
from factory_ai.history.readers import read
from factory_ai.registry import Registry

pytestmark = pytest.mark.slow


def test_training_writes_a_complete_verified_version(forecast_trained) -> None:
    ref = forecast_trained["ref"]
    card = json.loads((ref.path / "card.json").read_text())
    assert card["family"] == "forecast" and card["task"] == "rul" and card["time_unit"] == "hour"
    assert set(card["artifacts"]) == {"network.onnx", "gbm.onnx"}
    for name in ("network", "gbm"):
        assert card["parity"][name]["max_rul_diff_cycles"] <= 0.01
        assert card["parity"][name]["max_risk_diff"] <= 1e-4
    assert card["preprocessing"]["window"] == 12 and card["features"]["regimes"] == 3
    for plot in ("rul_scatter.png", "trajectories.png", "reliability.png", "evaluation.json"):
        assert (ref.path / plot).is_file(), plot
    assert not list(ref.path.parent.glob(".v*.partial"))
    assert Registry(forecast_trained["models"]).current("pumps") == "v1"


def test_the_model_learned_remaining_life_and_calibrated_risk(forecast_trained) -> None:
    card = forecast_trained["outcome"].card
    test = card["metrics"]["test"]
    rows = forecast_trained["outcome"].test_rows
    known = np.isfinite(rows.rul)
    spread = float(np.std(rows.rul[known]))  # the RMSE of always guessing the mean
    assert test["rul"]["rmse_capped_truth"] < 0.6 * spread
    # The interval was widened out of fold to cover 80 %; on unseen pumps it should be close.
    assert 0.6 <= test["rul"]["interval_coverage"] <= 0.97
    risk = test["risk"]
    base = risk["positives"] / risk["n"]
    assert risk["brier"] < base * (1 - base)  # better than the base rate
    assert risk["pr_auc"] > 2 * base


def test_line_side_latest_window_matches_the_training_windows(forecast_trained, fleet) -> None:
    """predict's latest-window path must feed the model exactly what training and evaluation saw."""
    from factory_ai.forecast.targets import runs
    from factory_ai.history.readers import add_events, read_events

    model = ForecastModel.load(forecast_trained["ref"].path, device="cpu", threads=2)
    history, _ = read(fleet / "readings.csv", "csv", time_col="timestamp")
    add_events(history, read_events(fleet / "events.csv", history.time_unit))
    assets, windows, errors = model.preprocessor.latest(history)
    assert not errors and len(assets) == 8
    # The same windows cut the way training cuts them: every row, runs split at the events.
    run_id, start, _, _ = runs(history)
    pre = model.preprocessor
    every = pre.windows(pre.transform(history.frame, start), run_id)
    names = history.frame["asset"].to_numpy()
    for i, asset in enumerate(assets):
        assert np.array_equal(windows[i], every[np.flatnonzero(names == asset)[-1]])
    results = forecast_assets(model, history)
    assert [r.asset for r in results] == assets
    for r in results:
        assert r.error is None and 0 <= r.rul_low <= r.rul <= r.rul_high and 0 <= r.risk <= 1


def test_a_member_file_changed_after_export_is_refused(forecast_trained, tmp_path) -> None:
    import shutil

    copy = tmp_path / "v1"
    shutil.copytree(forecast_trained["ref"].path, copy)
    with open(copy / "gbm.onnx", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ModelError, match="does not match the card"):
        ForecastModel.load(copy, device="cpu")


def test_gbm_onnx_matches_scikit_learn_exactly() -> None:
    from factory_ai.forecast.train import gbm
    from factory_ai.forecast.train.export import check_gbm, export_gbm

    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (600, 5)).astype(np.float32)
    rul = np.clip(50 + 20 * x[:, 0] - 10 * x[:, 1] ** 2, 0, 100)
    risk = (x[:, 2] + 0.3 * rng.normal(size=600) > 0.8).astype(np.int8)
    folds = [gbm.fit(x[i::2], rul[i::2], risk[i::2], gbm.GBMConfig(max_iter=40), seed=i) for i in range(2)]
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "gbm.onnx"
        export_gbm(folds, 5, path)
        verdict = check_gbm(folds, path, x)
    assert verdict["max_rul_diff_cycles"] < 1e-3 and verdict["max_risk_diff"] < 1e-6
