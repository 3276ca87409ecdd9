"""Forecast champion/challenger from the store: sensor histories and recorded events in, held-out
failure runs judged with onnxruntime, promotion or refusal with the reason."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

from factory_ai.config import load_settings
from factory_ai.forecast import retrain as forecast
from factory_ai.history.readers import read_store
from factory_ai.registry import Registry
from factory_ai.scheduler.jobs import JobContext
from factory_ai.scheduler.service import Scheduler
from factory_ai.store import Store

pytestmark = pytest.mark.slow
SIGNALS = ["load", "vibration", "temperature", "pressure", "current"]


def load_fleet(store: Store, fleet: Path, spool: Path) -> int:
    """The fleet's past readings into the store with their own timestamps (a historian backfill)."""
    from factory_ai.history.readers import read
    from factory_ai.ingest.backfill import backfill

    history, _ = read(fleet / "readings.csv", asset_col="asset", time_col="timestamp")
    stats = backfill(store, history, spool)
    assert stats.written == len(history.frame) * len(SIGNALS) and stats.rejected == 0
    return stats.written


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, fleet: Path) -> Path:
    """Made once: a store holding the fleet's readings (no events yet) and a deliberately weak
    champion (ten boosting rounds, so its RUL barely leaves the mean)."""
    pytest.importorskip("torch")
    from factory_ai.forecast.train.gbm import GBMConfig
    from factory_ai.forecast.train.pipeline import ForecastJob, run

    root = tmp_path_factory.mktemp("forecast-plant")
    run(ForecastJob(data=fleet / "readings.csv", name="pumps", events=fleet / "events.csv", time_col="timestamp",
                    settings=["load"], horizon=48, rul_cap=150, window=12, folds=2, members=("gbm",),
                    progress=False, gbm=GBMConfig(max_iter=10, max_leaf_nodes=4)),
        Registry(root / "models"))
    store = Store(f"sqlite:///{root / 'factory.db'}")
    load_fleet(store, fleet, root / "spool")
    store.close()
    return root


@pytest.fixture
def plant(base: Path, tmp_path: Path):  # noqa: ANN201
    shutil.copytree(base / "models", tmp_path / "models")
    shutil.copy(base / "factory.db", tmp_path / "factory.db")
    settings = load_settings(environ={"FACTORY_AI_STORE__URL": f"sqlite:///{tmp_path / 'factory.db'}",
                                      "FACTORY_AI_MODELS__DIR": str(tmp_path / "models"),
                                      "FACTORY_AI_DAEMON__FORECAST_MODEL": "pumps"})
    settings._base_dir = tmp_path
    settings.retrain.forecast.holdout_percent = 40
    settings.runtime.threads = 2
    store = Store(settings.database_url)
    yield settings, store
    store.close()


def record_events(store: Store, fleet: Path) -> int:
    from factory_ai import events

    with store.session() as session:
        return events.import_csv(session, fleet / "events.csv")["added"]


def test_the_export_freezes_whole_failure_runs_out_of_training(plant, fleet: Path, tmp_path: Path) -> None:  # noqa: ANN001
    settings, store = plant
    record_events(store, fleet)
    history, _ = read_store(store, events=True)
    first = forecast.export(history, tmp_path / "a", 40)
    again = forecast.export(history, tmp_path / "b", 40)
    assert [r.name for r in first.holdout] == [r.name for r in again.holdout]  # frozen
    assert first.counts["holdout_runs"] >= 2 and first.counts["holdout_rows"] > 0
    train = pd.read_csv(first.data)
    assert len(train) == first.counts["rows"] - first.counts["holdout_rows"]
    events = pd.read_csv(first.events)
    source = pd.read_csv(fleet / "events.csv")
    assert len(events) == len(source) - first.counts["holdout_runs"]  # held-out failures are not trained on
    for run in first.holdout:
        asset = run.name.split("@")[0]
        # No training row of that asset falls inside the held-out run.
        times = pd.to_datetime(train.loc[train["asset"] == asset, "time"], utc=True)
        start = pd.Timestamp(run.frame["time"].iloc[0] * 3600, unit="s", tz="UTC")
        end = pd.Timestamp(run.failure * 3600, unit="s", tz="UTC")
        assert not ((times >= start - pd.Timedelta("1s")) & (times <= end + pd.Timedelta("1s"))).any()
        assert run.frame["time"].iloc[-1] == pytest.approx(run.failure)
    # The export reads back as the history it came from, minus the holdout.
    from factory_ai.history.readers import read

    back, _ = read(first.data, events=first.events)
    assert len(back.frame) == len(train)
    assert sum(map(len, back.failures.values())) == sum(map(len, history.failures.values())) - len(first.holdout)


def test_no_events_no_retrain_then_a_better_challenger_is_promoted(plant, fleet: Path, forecast_trained) -> None:  # noqa: ANN001
    settings, store = plant
    ctx = JobContext(settings=settings, store=store, registry=Registry(settings.models_dir))
    skipped = Scheduler(ctx).run("retrain-forecast")
    assert skipped.status == "skipped" and "0 new failure/maintenance events" in skipped.error
    record_events(store, fleet)
    # The "GPU server": a command that leaves a stronger model (trained with more rounds) as v2.
    stronger = Registry(forecast_trained["models"]).resolve("pumps").path
    script = "import shutil,sys; shutil.copytree(sys.argv[1], sys.argv[2] + '/pumps/v2', ignore=shutil.ignore_patterns('*.png','*.pt'))"
    settings.retrain.forecast.command = [sys.executable, "-c", script, str(stronger), "{models_dir}"]
    run = Scheduler(ctx).run("retrain-forecast")
    assert run.status == "ok", run.error
    d = run.detail
    assert d["decision"] == "promoted", d["reason"]
    assert d["challenger"]["rmse"] < d["champion"]["rmse"] and d["champion"]["n"] == d["challenger"]["n"] >= 20
    assert d["reason"].startswith("challenger wins: rmse") and "parity ok" in d["reason"]
    assert Registry(settings.models_dir).current("pumps") == "v2"
    again = Scheduler(ctx).run("retrain-forecast")
    assert again.status == "skipped" and "0 new failure/maintenance events since the last retrain" in again.error


def test_a_challenger_trained_here_that_misses_the_margin_is_refused(plant, fleet: Path) -> None:  # noqa: ANN001
    settings, store = plant
    record_events(store, fleet)
    settings.retrain.forecast.margin = 0.95  # no model cuts the error by 95 %
    settings.retrain.forecast.train_args = ["--gbm-max-iter", "30", "--threads", "2"]
    ctx = JobContext(settings=settings, store=store, registry=Registry(settings.models_dir))
    run = Scheduler(ctx).run("retrain-forecast")
    assert run.status == "ok", run.error
    d = run.detail
    assert d["decision"] == "kept champion" and d["challenger"]["version"] == "v2"
    assert "champion kept: rmse" in d["reason"] and "the challenger must gain at least" in d["reason"]
    registry = Registry(settings.models_dir)
    assert registry.current("pumps") == "v1"
    assert (registry.history("pumps")[-1]["action"], registry.history("pumps")[-1]["reason"]) == ("refused", d["reason"])
    # The challenger kept the champion's shape: the same horizon, cap and window.
    from factory_ai.registry import read_card

    card = read_card(registry.resolve("pumps:v2").path)
    assert (card["horizon"], card["rul_cap"], card["window"]) == (48.0, 150.0, 12)
    assert card["preprocessing"]["settings"] == ["load"]
    shutil.rmtree(settings.resolve(settings.retrain.work_dir), ignore_errors=True)
