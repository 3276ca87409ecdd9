"""Machine health from normal operation: training on the sample fleet, scoring every time step
torch-free, health falling before each recorded failure, and bad inputs costing one asset only."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.test_torch_free import run_without_torch

ROOT = Path(__file__).resolve().parent.parent
FLEET = ROOT / "sample_data" / "fleet"
KEYS = {"asset", "time", "score", "health", "alarm", "top_sensors", "error"}


def test_persistence_needs_k_of_the_last_n() -> None:
    from factory_ai.health.model import persistent

    above = np.array([1, 0, 0, 1, 1, 0, 1, 0, 0, 0, 0], bool)
    # windows 0-4 hold three above; 1-5 and 2-6... : counted by hand
    assert persistent(above, 3, 5).tolist() == [False] * 4 + [True, False, True, True, False, False, False]
    assert persistent(above, 1, 1).tolist() == above.tolist()


def test_health_index_reads_the_same_for_every_model() -> None:
    from factory_ai.health.model import health_index

    got = health_index(np.array([0.3, 1.0, 3.0, 5.0]), threshold=3.0)
    assert got.tolist() == pytest.approx([100.0, 100.0, 50.0, 25.0])


def test_pca_scores_a_windows_drift_not_its_row_to_row_noise() -> None:
    """Two windows whose rows sit equally far from normal: in one the deviation flips sign from
    row to row (noise), in the other it holds (a drift). Only the drift may score high."""
    import torch

    from factory_ai.health.train.members import fit_pca

    rng = np.random.default_rng(0)
    rows = rng.normal(size=(400, 4)) @ np.array([[1.0, 0.8, 0, 0], [0, 0.6, 0, 0], [0, 0, 1.0, 0.5], [0, 0, 0, 0.9]])
    member = fit_pca(rows, rows[:390].reshape(65, 6, 4))
    step = 3 * rows.std(axis=0)
    signs = np.array([1, -1, 1, -1, 1, -1], float)[:, None]
    flipping = rows.mean(axis=0) + signs * step
    holding = rows.mean(axis=0) + np.abs(signs) * step
    with torch.no_grad():
        score, contribution = member(torch.tensor(np.stack([flipping, holding]), dtype=torch.float32))
    assert float(score[1]) > 5.0, "a drift of three spreads on every sensor is far from normal"
    assert float(score[0]) < 0.1 * float(score[1])
    assert contribution.shape == (2, 4) and float(contribution[1].sum()) > 0


@pytest.fixture(scope="module")
def health_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A health model trained on the sample pumps (their recorded failures judge it)."""
    from factory_ai.health.train.pipeline import HealthJob, run
    from factory_ai.registry import Registry

    models = tmp_path_factory.mktemp("health") / "models"
    job = HealthJob(data=FLEET / "readings.csv", name="pumps-health", time_col="timestamp", settings=["load"],
                    events=FLEET / "events.csv", epochs=20, threads=2, progress=False)
    outcome = run(job, Registry(models))
    assert outcome.promoted, outcome.summary()
    return outcome.ref.path


@pytest.mark.slow
def test_card_says_what_it_learned(health_model: Path) -> None:
    card = json.loads((health_model / "card.json").read_text())
    assert card["family"] == "health"
    assert card["features"]["settings"] == ["load"] and "load" not in card["features"]["channels"]
    assert card["normal"]["holdout_rows"] > 0 and card["normal"]["training_rows"] > card["normal"]["holdout_rows"]
    candidates = card["metrics"]["candidates"]
    assert set(candidates) == {"pca", "autoencoder", "combined"}
    shipped = candidates[card["shipped"]]
    assert shipped["f1"] == max(c["f1"] for c in candidates.values())
    # The threshold keeps held-out normal operation within the target (plus the gate's slack).
    assert shipped["false_alarms"] <= card["gate"]["allowed_false_alarms"]
    for member in card["combine"]:
        assert (health_model / f"{member}.onnx").exists()
        assert card["parity"][member]["max_relative_score_diff"] <= 1e-4
    assert (health_model / "health.png").stat().st_size > 10_000


@pytest.mark.slow
def test_every_row_scoring_without_torch_sees_wear_before_failures(tmp_path: Path, health_model: Path) -> None:
    shutil.copytree(health_model, tmp_path / "model")
    report, proc = run_without_torch(tmp_path, "predict", "--model", str(tmp_path / "model"), "--data",
                                     str(FLEET / "readings.csv"), "--events", str(FLEET / "events.csv"),
                                     "--time-column", "timestamp", "--every-row", "--json", "--no-store",
                                     "--threads", "2", cwd=tmp_path)
    assert report["loaded"] == [], report
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert all(set(line) == KEYS for line in lines)
    readings = pd.read_csv(FLEET / "readings.csv")
    assert len(lines) == len(readings)  # one object per asset and time step
    frame = pd.DataFrame([x for x in lines if x["error"] is None])
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    events = pd.read_csv(FLEET / "events.csv", parse_dates=["time"]).sort_values("time")
    failures = events[events["kind"] == "failure"]
    starts = []
    for failure in failures.itertuples():
        mine = frame[frame["asset"] == failure.asset]
        began = events[(events["asset"] == failure.asset) & (events["time"] < failure.time)]["time"].max()
        run = mine[(mine["time"] <= failure.time) & ((mine["time"] > began) if pd.notna(began) else True)]
        start = run[run["time"] <= run["time"].min() + 0.25 * (failure.time - run["time"].min())]
        end = run[run["time"] > failure.time - pd.Timedelta(hours=36)]
        # Healthy while the pump is new; alarmed, and far below its normal health, before it fails.
        assert start["health"].median() > 80, (failure, start.describe())
        assert end["alarm"].mean() > 0.9 and end["health"].median() < 20, (failure, end.describe())
        starts.append(start)
    assert pd.concat(starts)["alarm"].mean() < 0.03  # a rare spike may still alarm a new pump
    alarms = frame[frame["alarm"]]
    assert len(alarms) and all(0 < sum(s["share"] for s in a) <= 1.0001 for a in alarms["top_sensors"])


@pytest.mark.slow
@pytest.mark.parametrize("sensor", ["current", "pressure"])
def test_an_alarm_names_the_sensor_that_moved(tmp_path: Path, health_model: Path, sensor: str) -> None:
    """A new pump runs normally, then one sensor alone drifts away: the alarm names that sensor."""
    from factory_ai.health.model import HealthModel
    from factory_ai.health.scoring import score_history
    from factory_ai.history.readers import read

    model = HealthModel.load(health_model, threads=1)
    frame = pd.read_csv(FLEET / "readings.csv")
    pump = frame[frame["asset"] == "pump-05"].head(120).copy()  # the start of its first run: new
    spread = pump[sensor].groupby(pump["load"]).std().mean()
    sign = -1 if sensor == "pressure" else 1
    pump.loc[pump.index[-30:], sensor] += sign * 8 * spread
    pump.to_csv(tmp_path / "drift.csv", index=False)
    history, _ = read(tmp_path / "drift.csv", time_col="timestamp", settings=["load"])
    results = score_history(model, history, every_row=True)
    quiet = [r for r in results[:-30] if r.error is None]
    drifted = [r for r in results[-20:] if r.error is None]
    assert sum(r.alarm for r in quiet) <= 3
    assert all(r.alarm for r in drifted)
    assert all(r.top_sensors[0]["sensor"] == sensor and r.top_sensors[0]["share"] > 0.5 for r in drifted), \
        [r.top_sensors for r in drifted[:3]]


@pytest.mark.slow
def test_bad_inputs_cost_one_asset_each(tmp_path: Path, health_model: Path) -> None:
    from factory_ai.health.model import HealthModel
    from factory_ai.health.scoring import score_history
    from factory_ai.history.readers import read

    model = HealthModel.load(health_model, threads=1)
    frame = pd.read_csv(FLEET / "readings.csv")
    last = frame.groupby("asset").tail(1).index
    frame.loc[last[0], "vibration"] = np.nan  # a broken sensor on pump-01's latest row
    frame.loc[last[1], "load"] = 250.0  # pump-02 at a load the normal data never had
    frame = frame[~((frame["asset"] == "pump-03") & (frame.index < last[2] - 3))]  # pump-03: 4 rows only
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    history, _ = read(path, time_col="timestamp", settings=["load"])
    results = {r.asset: r for r in score_history(model, history)}
    assert "NaN" in results["pump-01"].error and "vibration" in results["pump-01"].error
    assert "operating regime" in results["pump-02"].error
    assert "history too short" in results["pump-03"].error
    assert sum(r.error is None for r in results.values()) == len(results) - 3
    missing = read(path, time_col="timestamp", settings=["load"])[0]
    missing.frame = missing.frame.drop(columns=["current"])
    assert all("missing columns: current" in r.error for r in score_history(model, missing))


@pytest.mark.slow
def test_daemon_scoring_stores_health_rows(tmp_path: Path, health_model: Path) -> None:
    """The family's score pass reads the store's readings and gives one health row per asset."""
    from datetime import UTC, datetime

    from sqlmodel import select

    from factory_ai.health.family import HEALTH
    from factory_ai.health.model import HealthModel
    from factory_ai.history.readers import read
    from factory_ai.ingest.backfill import backfill
    from factory_ai.registry import ModelRef
    from factory_ai.store.database import Store
    from factory_ai.store.tables import HealthScore

    store = Store(f"sqlite:///{tmp_path / 'plant.db'}")
    recent = pd.read_csv(FLEET / "readings.csv").groupby("asset").tail(30)
    recent.to_csv(tmp_path / "recent.csv", index=False)
    history, _ = read(tmp_path / "recent.csv", time_col="timestamp")
    stats = backfill(store, history, tmp_path / "spool")
    assert stats.written == 30 * 12 * 5, stats
    model = HealthModel.load(health_model, threads=1)
    scored = HEALTH.score(model, ModelRef("pumps-health", "v1", health_model), store,
                          since=datetime(2020, 1, 1, tzinfo=UTC), state={})
    assert len(scored.results) == 12 and not any(r.error for r in scored.results)
    store.add_all(scored.rows)
    with store.session() as session:
        rows = session.exec(select(HealthScore)).all()
    assert len(rows) == 12 and all(0 <= r.health <= 100 and r.top_sensors for r in rows)


@pytest.mark.slow
def test_retrain_health_learns_recent_normal_and_judges_on_frozen_days(tmp_path: Path, health_model: Path,
                                                                      fleet: Path) -> None:
    """The scheduler's retrain-health job: the store's last weeks of normal operation (without
    the ends of failed runs and open-alert stretches) train a challenger with the champion's
    shape; champion and challenger are judged on frozen held-out days and the recorded failures."""
    from factory_ai import events
    from factory_ai.config import load_settings
    from factory_ai.registry import Registry, read_card
    from factory_ai.scheduler.jobs import JobContext
    from factory_ai.scheduler.service import Scheduler
    from factory_ai.store.database import Store
    from tests.test_retrain_forecast import load_fleet

    shutil.copytree(health_model.parent, tmp_path / "models" / "pumps-health")
    settings = load_settings(environ={"FACTORY_AI_STORE__URL": f"sqlite:///{tmp_path / 'factory.db'}",
                                      "FACTORY_AI_MODELS__DIR": str(tmp_path / "models"),
                                      "FACTORY_AI_DAEMON__HEALTH_MODEL": "pumps-health"})
    settings._base_dir = tmp_path
    settings.runtime.threads = 2
    settings.retrain.health.window_days = 40
    settings.retrain.health.train_args = ["--epochs", "5", "--threads", "2"]
    store = Store(settings.database_url)
    load_fleet(store, fleet, tmp_path / "spool")
    with store.session() as session:
        events.import_csv(session, fleet / "events.csv")
    run = Scheduler(JobContext(settings=settings, store=store, registry=Registry(settings.models_dir))).run(
        "retrain-health")
    assert run.status == "ok", run.error
    d = run.detail
    assert d["challenger"]["version"] == "v2" and d["champion"]["version"] == "v1"
    assert d["data"]["holdout_rows"] > 0 and d["data"]["training_rows"] < d["data"]["normal_rows"]
    assert d["challenger"]["windows"] >= 20 and d["challenger"]["failures"] == d["champion"]["failures"] > 0
    assert d["decision"] in ("promoted", "kept champion") and d["reason"]
    registry = Registry(settings.models_dir)
    assert registry.current("pumps-health") == ("v2" if d["decision"] == "promoted" else "v1")
    card = read_card(registry.resolve("pumps-health:v2").path)
    champion = read_card(registry.resolve("pumps-health:v1").path)
    assert card["preprocessing"]["settings"] == ["load"] and card["window"] == champion["window"]
    assert (card["alarm"]["k"], card["alarm"]["n"]) == (champion["alarm"]["k"], champion["alarm"]["n"])
    store.close()


@pytest.mark.slow
def test_drift_compares_live_sensors_with_the_normal_period(tmp_path: Path, health_model: Path) -> None:
    from datetime import timedelta

    from factory_ai.config import load_settings
    from factory_ai.registry import Registry
    from factory_ai.scheduler.jobs import JobContext
    from factory_ai.scheduler.service import Scheduler
    from factory_ai.store import Asset, Reading, Sensor, Store, utcnow

    shutil.copytree(health_model.parent, tmp_path / "models" / "pumps-health")
    settings = load_settings(environ={"FACTORY_AI_STORE__URL": f"sqlite:///{tmp_path / 'f.db'}",
                                      "FACTORY_AI_MODELS__DIR": str(tmp_path / "models"),
                                      "FACTORY_AI_DAEMON__HEALTH_MODEL": "pumps-health"})
    store = Store(settings.database_url)
    new = pd.read_csv(FLEET / "readings.csv").groupby("asset").head(60)  # new pumps: normal operation
    now = utcnow()
    with store.session() as session:
        asset = Asset(name="pump-1")
        session.add(asset)
        session.flush()
        sensors = {name: Sensor(asset_id=asset.id, name=name) for name in ("vibration", "temperature")}
        session.add_all(sensors.values())
        session.flush()
        for i, row in enumerate(new.itertuples()):
            ts = now - timedelta(minutes=i)
            session.add(Reading(sensor_id=sensors["vibration"].id, ts=ts, value=row.vibration + 3.0))  # loose mount
            session.add(Reading(sensor_id=sensors["temperature"].id, ts=ts, value=row.temperature))
    run = Scheduler(JobContext(settings=settings, store=store, registry=Registry(settings.models_dir))).run("drift")
    assert run.status == "ok", run.error
    features = run.detail["health"]["features"]
    assert features["vibration"]["drifted"] and not features["temperature"]["drifted"]
    assert run.detail["drifted"] == ["health"] and run.detail["retrain_jobs"] == ["retrain-health"]
    store.close()
