"""The forecast on the real public datasets in ../shared/datasets (skipped where absent).

Small and quick (gradient boosting only, 2 folds): these prove the readers and the pipeline
on real files; bench/forecast_cmapss.py and bench/forecast_ai4i.py give the full figures.
"""

from __future__ import annotations

import pytest

from factory_ai.history.readers import read
from factory_ai.registry import Registry
from tests.conftest import shared_dataset

pytestmark = pytest.mark.slow


def _job(**kwargs):  # noqa: ANN003, ANN202
    pytest.importorskip("torch")
    from factory_ai.forecast.train.gbm import GBMConfig
    from factory_ai.forecast.train.pipeline import ForecastJob

    return ForecastJob(members=("gbm",), folds=2, progress=False, gbm=GBMConfig(max_iter=120), **kwargs)


def test_cmapss_fd001_last_cycle_rmse(tmp_path) -> None:
    from factory_ai.forecast.train.pipeline import run

    data = shared_dataset("cmapss")
    if not (data / "train_FD001.txt").is_file():
        pytest.skip("train_FD001.txt not present")
    outcome = run(_job(data=data / "train_FD001.txt", name="fd001", test=data / "test_FD001.txt"), Registry(tmp_path))
    test = outcome.card["metrics"]["test"]
    assert test["n"] == 100 and test["scope"] == "each asset's last window"
    # A random forest scores about 17; boosted trees on window summaries should beat it clearly.
    assert test["rul"]["rmse_capped_truth"] < 15.0
    assert test["rul"]["truth_above_cap"] > 0  # the RUL file really was read uncapped
    assert outcome.card["features"]["regimes"] == 1


def test_cmapss_fd002_has_six_operating_regimes() -> None:
    data = shared_dataset("cmapss")
    if not (data / "train_FD002.txt").is_file():
        pytest.skip("train_FD002.txt not present")
    from factory_ai.forecast.features import Preprocessor
    from factory_ai.forecast.targets import label_rows

    history, _ = read(data / "train_FD002.txt")
    pre = Preprocessor.fit(history, label_rows(history, 125, 30), window=40, min_history=5, use_age=True)
    assert len(pre.centroids) == 6


def test_ai4i_failure_risk_without_the_leaking_flags(tmp_path) -> None:
    from factory_ai.forecast.train.pipeline import run

    path = shared_dataset("ai4i2020") / "ai4i2020.csv"
    outcome = run(_job(data=path, name="ai4i"), Registry(tmp_path))
    card = outcome.card
    assert card["task"] == "risk" and card["window"] == 1
    assert not {"TWF", "HDF", "PWF", "OSF", "RNF"} & set(card["features"]["channels"])
    risk = card["metrics"]["test"]["risk"]
    assert risk["n"] == 2000 and risk["positives"] > 50  # a stratified 20 % split
    assert risk["f1"] > 0.5 and risk["pr_auc"] > 0.5
