"""Drift: the statistics against scipy, the training references in real cards, and the job."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import select

from factory_ai.config import load_settings
from factory_ai.drift.stats import ks, psi
from factory_ai.reference import summarize
from factory_ai.registry import Registry
from factory_ai.scheduler.jobs import JobContext
from factory_ai.scheduler.service import Scheduler
from factory_ai.store import Alert, Asset, Inspection, Reading, Sensor, Store, utcnow


def test_psi_and_ks_see_a_shift_and_not_noise() -> None:
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    train = rng.normal(50, 2, 20_000)
    reference = summarize(train)
    same, moved = rng.normal(50, 2, 3000), rng.normal(52, 2, 3000)
    assert psi(reference, same) < 0.02 and ks(reference, same) < 0.04
    assert psi(reference, moved) > 0.25 and ks(reference, moved) > 0.3
    # KS from 101 percentiles agrees with scipy's on the full training sample.
    for sample in (same, moved, rng.normal(50, 4, 3000)):
        assert abs(ks(reference, sample) - scipy_stats.ks_2samp(train, sample).statistic) < 0.015


def test_a_sensor_stuck_at_one_value_is_stable_against_itself_and_drifts_when_it_moves() -> None:
    reference = summarize(np.r_[np.full(900, 1.0), np.full(100, 2.0)])
    # A point mass is known only to 1 percentile: stable reads well under 0.1 ("no shift").
    assert psi(reference, np.r_[np.full(90, 1.0), np.full(10, 2.0)]) < 0.1
    assert ks(reference, np.r_[np.full(90, 1.0), np.full(10, 2.0)]) < 0.02
    assert psi(reference, np.full(100, 3.0)) > 1 and ks(reference, np.full(100, 3.0)) == pytest.approx(1.0)
    assert summarize([1.0, np.nan] * 5) is None  # too few values to summarise


def test_trained_cards_carry_their_drift_reference(trained, forecast_trained) -> None:  # noqa: ANN001
    vision = trained["outcome"].card["drift_reference"]
    assert set(vision) == {"brightness", "contrast", "confidence"}
    assert 0 < vision["brightness"]["quantiles"][50] < 1 and vision["confidence"]["quantiles"][-1] <= 1
    sensors = forecast_trained["outcome"].card["drift_reference"]["sensors"]
    assert set(sensors) == set(forecast_trained["outcome"].card["features"]["channels"]) & set(sensors)
    assert len(sensors) >= 3 and all(len(s["quantiles"]) == 101 for s in sensors.values())


def fake_model(models: Path, name: str, reference: dict) -> None:
    """A registry entry whose card holds only what the drift job reads (it loads no network)."""
    folder = models / name / "v1"
    folder.mkdir(parents=True)
    (folder / "card.json").write_text(json.dumps({"name": name, "version": "v1", "artifacts": {},
                                                  "drift_reference": reference}))
    (models / name / "CURRENT").write_text("v1\n")


def test_drift_job_raises_and_resolves_alerts_from_the_store(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    fake_model(tmp_path / "models", "pumps", {"sensors": {"temp": summarize(rng.normal(50, 2, 5000)),
                                                          "flow": summarize(rng.normal(10, 1, 5000))}})
    fake_model(tmp_path / "models", "surface", {"brightness": summarize(rng.normal(0.5, 0.05, 2000))})
    settings = load_settings(environ={"FACTORY_AI_STORE__URL": f"sqlite:///{tmp_path / 'f.db'}",
                                      "FACTORY_AI_MODELS__DIR": str(tmp_path / "models"),
                                      "FACTORY_AI_DAEMON__FORECAST_MODEL": "pumps",
                                      "FACTORY_AI_INSPECT__MODEL": "surface"})
    store = Store(settings.database_url)
    now = utcnow()
    with store.session() as session:
        asset = Asset(name="pump-1")
        session.add(asset)
        session.flush()
        temp, flow = Sensor(asset_id=asset.id, name="temp"), Sensor(asset_id=asset.id, name="flow")
        session.add_all([temp, flow])
        session.flush()
        for i in range(500):
            ts = now - timedelta(minutes=i)
            session.add(Reading(sensor_id=temp.id, ts=ts, value=float(rng.normal(57, 2))))  # a hot pump
            session.add(Reading(sensor_id=flow.id, ts=ts, value=float(rng.normal(10, 1))))
            session.add(Reading(sensor_id=flow.id, ts=ts - timedelta(days=3), value=99.0))  # old: outside
        session.add_all(Inspection(source="cam", verdict="pass", model_name="surface", brightness=float(b))
                        for b in rng.normal(0.5, 0.05, 300))
    ctx = JobContext(settings=settings, store=store, registry=Registry(settings.models_dir))
    run = Scheduler(ctx).run("drift")
    assert run.status == "ok", run.error
    features = run.detail["forecast"]["features"]
    assert features["temp"]["drifted"] and not features["flow"]["drifted"] and features["flow"]["n"] == 500
    assert run.detail["vision"]["features"]["brightness"]["drifted"] is False
    assert run.detail["drifted"] == ["forecast"]
    with store.session() as session:
        [alert] = session.exec(select(Alert)).all()
    assert alert.key == "drift:pumps:temp" and alert.status == "open" and "sensor temp: PSI" in alert.message

    # The pump is cooled: newer readings are back to normal, and the alert resolves.
    with store.session() as session:
        session.add_all(Reading(sensor_id=temp.id, ts=now + timedelta(seconds=i + 1), value=float(rng.normal(50, 2)))
                        for i in range(5000))
    settings.drift.max_samples = 5000
    run = Scheduler(ctx).run("drift")
    assert run.detail["drifted"] == [] and run.detail["alerts"]["resolved"] == 1
    store.close()


def test_drift_job_skips_with_reasons_when_no_card_has_a_reference(tmp_path: Path) -> None:
    fake_model(tmp_path / "models", "old", {})
    settings = load_settings(environ={"FACTORY_AI_STORE__URL": f"sqlite:///{tmp_path / 'f.db'}",
                                      "FACTORY_AI_MODELS__DIR": str(tmp_path / "models"),
                                      "FACTORY_AI_INSPECT__MODEL": "old"})
    ctx = JobContext(settings=settings, store=Store(settings.database_url), registry=Registry(settings.models_dir))
    run = Scheduler(ctx).run("drift")
    assert run.status == "skipped" and "no drift reference" in run.error
    ctx.store.close()
