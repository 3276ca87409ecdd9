"""``factory-ai predict``: line-side forecasts per asset, bad input per asset, storage."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from factory_ai.cli import app

ROOT = Path(__file__).resolve().parent.parent
DEMO_MODEL = ROOT / "models" / "demo-fleet"
FLEET = ROOT / "sample_data" / "fleet"
KEYS = {"asset", "rul", "rul_low", "rul_high", "risk", "horizon", "error"}


@pytest.fixture
def demo_plant(plant: Path) -> Path:
    """A plant folder holding the committed demo forecast model."""
    shutil.copytree(DEMO_MODEL, plant / "models" / "demo-fleet")
    return plant


def _predict(*args: str):  # noqa: ANN202
    return CliRunner().invoke(app, ["predict", "--model", "demo-fleet", "--threads", "2", *args])


def test_predict_prints_json_lines_with_the_documented_keys_and_stores_them(demo_plant: Path) -> None:
    result = _predict("--data", str(FLEET / "readings.csv"), "--events", str(FLEET / "events.csv"),
                      "--time-column", "timestamp", "--json")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 12 and all(set(line) == KEYS for line in lines)
    for line in lines:
        assert line["error"] is None and line["rul_low"] <= line["rul"] <= line["rul_high"] and line["horizon"] == 48

    from sqlmodel import select

    from factory_ai.store import Store
    from factory_ai.store.tables import Asset, Prediction

    with Store(f"sqlite:///{demo_plant / 'var' / 'factory.db'}") as store, store.session() as session:
        predictions = session.exec(select(Prediction)).all()
        assets = {a.id: a.name for a in session.exec(select(Asset)).all()}
    assert len(predictions) == 12
    assert {assets[p.asset_id] for p in predictions} == {line["asset"] for line in lines}
    assert all(p.model_name == "demo-fleet" and p.model_version == "v1" for p in predictions)


def test_bad_assets_get_reasons_and_the_others_are_still_forecast(demo_plant: Path) -> None:
    frame = pd.read_csv(FLEET / "readings.csv")
    pumps = sorted(frame["asset"].unique())
    last = frame.groupby("asset").tail(1).index
    frame.loc[last[frame.loc[last, "asset"] == pumps[0]], "vibration"] = float("nan")  # broken sensor
    frame.loc[last[frame.loc[last, "asset"] == pumps[1]], "current"] = float("inf")
    dup = frame[frame["asset"] == pumps[2]].tail(1)
    frame = pd.concat([frame, dup])  # a repeated timestamp
    frame = frame[(frame["asset"] != pumps[3]) | (frame.index > frame[frame["asset"] == pumps[3]].index[-3])]
    shuffled = frame.sample(frac=1.0, random_state=0)  # out of order: sorted, not refused
    shuffled.to_csv(demo_plant / "bad.csv", index=False)
    result = _predict("--data", "bad.csv", "--time-column", "timestamp", "--json", "--asset", pumps[0],
                      "--asset", pumps[1], "--asset", pumps[2], "--asset", pumps[3], "--asset", pumps[4],
                      "--asset", "pump-99", "--no-store")
    assert result.exit_code == 2, result.output
    lines = {r["asset"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert "NaN or inf" in lines[pumps[0]]["error"] and "vibration" in lines[pumps[0]]["error"]
    assert "NaN or inf" in lines[pumps[1]]["error"] and "current" in lines[pumps[1]]["error"]
    assert "duplicate timestamps" in lines[pumps[2]]["error"]
    assert "too short" in lines[pumps[3]]["error"]
    assert lines[pumps[4]]["error"] is None and lines[pumps[4]]["rul"] is not None
    assert "unknown asset" in lines["pump-99"]["error"]
    assert "6 assets: 1 forecast, 5 with errors" in result.stderr


def test_missing_columns_are_named(demo_plant: Path) -> None:
    frame = pd.read_csv(FLEET / "readings.csv").drop(columns=["pressure"])
    frame.to_csv(demo_plant / "nopressure.csv", index=False)
    result = _predict("--data", "nopressure.csv", "--time-column", "timestamp", "--no-store")
    assert result.exit_code == 2
    assert all("missing columns: pressure" in line for line in result.stdout.splitlines())


def test_a_vision_model_is_refused_with_a_clear_message(plant: Path) -> None:
    shutil.copytree(ROOT / "models" / "demo-surface", plant / "models" / "demo-surface")
    result = CliRunner().invoke(app, ["predict", "--model", "demo-surface", "--data", str(FLEET / "readings.csv")])
    assert result.exit_code == 1 and "not a forecast model" in result.stderr


def test_predict_reads_the_store_when_no_file_is_given(demo_plant: Path) -> None:
    from datetime import datetime

    from factory_ai.store import Store
    from factory_ai.store.records import asset_ids
    from factory_ai.store.tables import Reading, Sensor

    frame = pd.read_csv(FLEET / "readings.csv")
    frame = frame[frame["asset"].isin(["pump-01", "pump-02"])].groupby("asset").tail(30)
    store = Store(f"sqlite:///{demo_plant / 'var' / 'factory.db'}")
    ids = asset_ids(store, ["pump-01", "pump-02"])
    with store.session() as session:
        sensors = {}
        for asset in ids:
            for name in ("load", "vibration", "temperature", "pressure", "current"):
                sensors[asset, name] = Sensor(asset_id=ids[asset], name=name)
                session.add(sensors[asset, name])
        session.flush()
        for row in frame.itertuples(index=False):
            ts = datetime.fromisoformat(row.timestamp.replace("Z", "+00:00"))
            for name in ("load", "vibration", "temperature", "pressure", "current"):
                session.add(Reading(sensor_id=sensors[row.asset, name].id, ts=ts, value=getattr(row, name)))
    store.close()
    result = _predict("--json")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["asset"] for line in lines] == ["pump-01", "pump-02"]
    assert all(line["rul"] is not None for line in lines)


def test_models_list_and_show_describe_a_forecast_model(demo_plant: Path) -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["models", "list"])
    assert listed.exit_code == 0 and "demo-fleet" in listed.stdout and "RMSE" in listed.stdout
    shown = runner.invoke(app, ["models", "show", "demo-fleet"])
    assert shown.exit_code == 0, shown.output
    assert "horizon 48 hours" in shown.stdout and "network.onnx" in shown.stdout and "gbm.onnx" in shown.stdout
