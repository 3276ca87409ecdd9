"""Shared fixtures: an isolated plant environment, sample images, a small trained model,
and real servers (PostgreSQL) started on 127.0.0.1 for the session."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "datasets"

# Two cores in CI: fixed thread counts keep torch and onnxruntime from oversubscribing.
os.environ.setdefault("OMP_NUM_THREADS", "2")
THREADS = "2"


@pytest.fixture
def plant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean working folder with no config: factory-ai's defaults land inside it."""
    for name in list(os.environ):
        if name.startswith("FACTORY_AI_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def sample_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's synthetic product images, a small set (4 classes x 30, 64 px)."""
    from factory_ai.samples.images import generate

    out = tmp_path_factory.mktemp("samples") / "images"
    generate(out, per_class=30, size=64, seed=3)
    return out


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, sample_images: Path) -> dict[str, object]:
    """One small vision model trained once for the session (fp32 + int8), in its own registry."""
    pytest.importorskip("torch")
    from factory_ai.registry import Registry
    from factory_ai.vision.gate import Limits
    from factory_ai.vision.train.fit import TrainConfig
    from factory_ai.vision.train.pipeline import VisionJob, run

    models = tmp_path_factory.mktemp("registry")
    # The test split holds six good parts, so one misjudged part is a 17 % false-reject rate:
    # the default 10 % limit would make this fixture's promotion a coin toss between package
    # versions. The gate has tests of its own; here it only has to beat the trivial answer.
    job = VisionJob(data=sample_images, name="parts", int8=True, progress=False, calibration_images=48,
                    limits=Limits(max_false_reject=0.34, max_escape=0.34),
                    train=TrainConfig(epochs=25, image_size=64, width=8, batch_size=16, patience=25, threads=2,
                                      min_steps=16))
    outcome = run(job, Registry(models))
    return {"models": models, "outcome": outcome, "ref": outcome.ref}


@pytest.fixture(scope="session")
def postgres_server():
    from tests.servers import Unavailable, start_postgres

    try:
        server = start_postgres()
    except Unavailable as exc:
        pytest.skip(f"PostgreSQL tests skipped: {exc}")
    yield server
    server.stop()


@pytest.fixture
def own_postgres():
    """A PostgreSQL server for one test alone: outage tests stop and restart it."""
    from tests.servers import Unavailable, start_postgres

    try:
        server = start_postgres()
    except Unavailable as exc:
        pytest.skip(f"PostgreSQL not available: {exc}")
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A fresh, empty database on the session's PostgreSQL server."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    postgres_server.psql(f"CREATE DATABASE {name}")
    yield postgres_server.url.rsplit("/", 1)[0] + f"/{name}"
    postgres_server.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store test runs on SQLite and on a real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'factory.db'}"
    return request.getfixturevalue("postgres_url")


def neu_dir() -> Path:
    path = SHARED / "neu_surface_defects"
    if not path.is_dir():
        pytest.skip(f"real dataset not present: {path} (tests use it when ../shared/datasets exists)")
    return path


def shared_dataset(name: str) -> Path:
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"real dataset not present: {path} (tests use it when ../shared/datasets exists)")
    return path


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic pump fleet (8 pumps x 3 runs, hourly): readings.csv + events.csv."""
    from factory_ai.samples.fleet import generate

    out = tmp_path_factory.mktemp("fleet")
    generate(out, assets=8, runs=3, seed=5)
    return out


@pytest.fixture(scope="session")
def forecast_trained(tmp_path_factory: pytest.TempPathFactory, fleet: Path) -> dict[str, object]:
    """One small forecast model (network + boosted trees, 3 folds) trained once for the session."""
    pytest.importorskip("torch")
    from factory_ai.forecast.train.fit import NetworkConfig
    from factory_ai.forecast.train.gbm import GBMConfig
    from factory_ai.forecast.train.pipeline import ForecastJob, run
    from factory_ai.registry import Registry

    models = tmp_path_factory.mktemp("forecast-registry")
    job = ForecastJob(data=fleet / "readings.csv", name="pumps", events=fleet / "events.csv", time_col="timestamp",
                      settings=["load"], horizon=48, rul_cap=150, window=12, folds=3, test_fraction=0.25,
                      progress=False, network=NetworkConfig(width=8, epochs=6, patience=6, threads=2),
                      gbm=GBMConfig(max_iter=60, max_leaf_nodes=15))
    outcome = run(job, Registry(models))
    return {"models": models, "outcome": outcome, "ref": outcome.ref, "job": job}


@pytest.fixture
def mosquitto():
    """A real Mosquitto broker on 127.0.0.1 (persistence on), one per test: tests restart it."""
    from tests.servers import Unavailable, start_mosquitto

    try:
        broker = start_mosquitto()
    except Unavailable as exc:
        pytest.skip(f"MQTT tests skipped: {exc}")
    yield broker
    broker.close()
