"""Champion/challenger retraining from operator labels: promotion, refusal, and the reasons."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from sqlmodel import select

from factory_ai.config import load_settings
from factory_ai.registry import Registry
from factory_ai.retrain.run import decide
from factory_ai.scheduler.jobs import JobContext
from factory_ai.scheduler.service import Scheduler
from factory_ai.store import Inspection, ModelVersion, Review, Store, utcnow
from factory_ai.vision.archive import ImageArchive
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def test_decide_needs_parity_a_big_enough_holdout_and_a_real_gain() -> None:
    ok = (True, "parity ok")
    args = dict(metric="accuracy", higher_is_better=True, margin=0.02, relative=False, parity=ok, min_holdout=20)
    assert decide({"accuracy": 0.90}, {"accuracy": 0.93}, holdout=50, **args)[0] is True
    assert decide({"accuracy": 0.90}, {"accuracy": 0.91}, holdout=50, **args)[0] is False
    assert "fewer than the 20" in decide({"accuracy": 0.5}, {"accuracy": 0.9}, holdout=5, **args)[1]
    bad = decide({"accuracy": 0.5}, {"accuracy": 0.9}, holdout=50, **{**args, "parity": (False, "parity failed")})
    assert bad == (False, "parity failed")
    assert decide({"accuracy": 0.9}, {"accuracy": 0.9}, holdout=50, **{**args, "margin": 0})[0] is False
    rmse = dict(args, metric="rmse", higher_is_better=False, margin=0.05, relative=True)
    assert decide({"rmse": 20.0}, {"rmse": 18.9}, holdout=50, **rmse)[0] is True   # 5.5 % lower
    assert decide({"rmse": 20.0}, {"rmse": 19.2}, holdout=50, **rmse)[0] is False  # 4 % lower


@pytest.fixture
def plant(tmp_path: Path):  # noqa: ANN201
    """A registry whose champion is a deliberately weak model (one epoch), and a store of labels
    for freshly generated images (a seed the models never saw)."""
    pytest.importorskip("torch")
    from factory_ai.samples.images import generate
    from factory_ai.vision.train.fit import TrainConfig
    from factory_ai.vision.train.pipeline import VisionJob, run

    generate(tmp_path / "fresh", per_class=20, size=96, seed=11)
    # Weak on purpose, so it fails its own gate: forced into service, as a plant might have done.
    run(VisionJob(data=tmp_path / "fresh", name="surface", progress=False, force=True,
                  train=TrainConfig(epochs=1, image_size=32, width=4, batch_size=16, threads=2, min_steps=4)),
        Registry(tmp_path / "models"))
    settings = load_settings(environ={"FACTORY_AI_STORE__URL": f"sqlite:///{tmp_path / 'factory.db'}",
                                      "FACTORY_AI_MODELS__DIR": str(tmp_path / "models"),
                                      "FACTORY_AI_INSPECT__MODEL": "surface"})
    settings._base_dir = tmp_path
    settings.retrain.vision.min_new_labels = 40
    settings.retrain.vision.holdout_percent = 40
    settings.retrain.vision.min_holdout = 10
    store = Store(settings.database_url)
    label(store, tmp_path / "fresh", ImageArchive(tmp_path / "images"))
    yield settings, store
    store.close()


def label(store: Store, folder: Path, archive: ImageArchive) -> None:
    import hashlib

    with store.session() as session:
        for path in sorted(folder.rglob("*.png")):
            data = path.read_bytes()
            kept = archive.put(data, hashlib.sha256(data).hexdigest())
            inspection = Inspection(source=str(path), verdict="review", model_name="surface", model_version="v1",
                                    image_path=str(kept))
            session.add(inspection)
            session.flush()
            session.add(Review(inspection_id=inspection.id, label=path.parent.name, reviewer="qa", labelled_at=utcnow()))


def test_a_better_challenger_from_an_external_command_is_promoted(plant, tmp_path: Path) -> None:  # noqa: ANN001
    settings, store = plant
    # The "GPU server": a command that leaves a new version in the registry (here, the demo model).
    script = ("import shutil,sys; shutil.copytree(sys.argv[1], sys.argv[2] + '/surface/v2', "
              "ignore=shutil.ignore_patterns('*.png','*.pt'))")
    settings.retrain.vision.command = [sys.executable, "-c", script, str(ROOT / "models" / "demo-surface" / "v1"),
                                       "{models_dir}"]
    ctx = JobContext(settings=settings, store=store, registry=Registry(settings.models_dir))
    run = Scheduler(ctx).run("retrain-vision")
    assert run.status == "ok", run.error
    d = run.detail
    assert d["decision"] == "promoted", d["reason"]
    assert d["challenger"]["accuracy"] > d["champion"]["accuracy"] and d["champion"]["n"] == d["data"]["holdout"]
    assert d["reason"].startswith("challenger wins: accuracy") and "parity ok" in d["reason"]
    registry = Registry(settings.models_dir)
    assert registry.current("surface") == "v2"
    assert registry.history("surface")[-1]["reason"] == d["reason"]
    with store.session() as session:
        assert session.exec(select(ModelVersion.version).where(ModelVersion.status == "current")).one() == "v2"
    # The frozen holdout never meets the training images.
    work = Path(d["work_dir"])
    train = {p.name for p in (work / "train").rglob("*.png")}
    holdout = {p.name for p in (work / "holdout").rglob("*.png")}
    assert train and holdout and not train & holdout and len(train) + len(holdout) == 80
    # Nothing new since: the next run has nothing to do.
    again = Scheduler(ctx).run("retrain-vision")
    assert again.status == "skipped" and "0 new labels since the last retrain" in again.error


def test_a_challenger_trained_here_that_does_not_win_by_the_margin_is_refused(plant, monkeypatch) -> None:  # noqa: ANN001
    settings, store = plant
    # The challenger's own gate is opened wide (the child reads the environment), so that this
    # test reaches the holdout comparison; the gate's refusal has a test of its own.
    for key, value in (("GATE_MARGIN", "0"), ("MAX_FALSE_REJECT", "1"), ("MAX_ESCAPE", "1")):
        monkeypatch.setenv(f"FACTORY_AI_VISION__{key}", value)
    settings.retrain.vision.margin = 0.6  # more than any model can gain over the weak champion
    settings.retrain.vision.train_args = ["--epochs", "2", "--image-size", "32", "--width", "4", "--threads", "2"]
    ctx = JobContext(settings=settings, store=store, registry=Registry(settings.models_dir))
    run = Scheduler(ctx).run("retrain-vision")
    assert run.status == "ok", run.error
    d = run.detail
    assert d["decision"] == "kept champion" and d["challenger"]["version"] == "v2"
    assert "champion kept" in d["reason"] and "at least 0.6" in d["reason"]
    registry = Registry(settings.models_dir)
    assert registry.current("surface") == "v1"
    last = registry.history("surface")[-1]
    assert (last["action"], last["version"], last["reason"]) == ("refused", "v2", d["reason"])
    log = (Path(d["work_dir"]) / "training.log").read_text()
    assert "surface v2" in log or "v2" in log
    assert json.dumps(d)  # the history row holds plain JSON


def test_a_challenger_that_failed_its_gate_never_wins(plant, tmp_path: Path) -> None:  # noqa: ANN001
    """The demo model beats the weak champion on the holdout, but its card (edited here) says it
    failed its gate before service: the job keeps the champion and says why."""
    settings, store = plant
    script = ("import json,shutil,sys; t = sys.argv[2] + '/surface/v2'; "
              "shutil.copytree(sys.argv[1], t, ignore=shutil.ignore_patterns('*.png','*.pt')); "
              "c = json.load(open(t + '/card.json')); "
              "c['gate'] = dict(passed=False, sentence='kept out of service: false-reject rate 40.0% over the limit 10%'); "
              "json.dump(c, open(t + '/card.json', 'w')); sys.exit(3)")
    settings.retrain.vision.command = [sys.executable, "-c", script, str(ROOT / "models" / "demo-surface" / "v1"),
                                       "{models_dir}"]
    ctx = JobContext(settings=settings, store=store, registry=Registry(settings.models_dir))
    run = Scheduler(ctx).run("retrain-vision")
    assert run.status == "ok", run.error
    d = run.detail
    assert d["challenger"]["accuracy"] > d["champion"]["accuracy"]
    assert d["decision"] == "kept champion"
    assert d["reason"] == ("the challenger failed its gate before service: kept out of service: false-reject rate "
                           "40.0% over the limit 10%")
    assert Registry(settings.models_dir).current("surface") == "v1"


def test_a_failed_training_command_fails_the_job_with_its_output(plant) -> None:  # noqa: ANN001
    settings, store = plant
    settings.retrain.vision.command = [sys.executable, "-c", "import sys; print('CUDA out of memory'); sys.exit(3)"]
    ctx = JobContext(settings=settings, store=store, registry=Registry(settings.models_dir))
    run = Scheduler(ctx).run("retrain-vision")
    assert run.status == "failed" and "exited with 3" in run.error and "CUDA out of memory" in run.error
    assert Registry(settings.models_dir).current("surface") == "v1"
    shutil.rmtree(settings.resolve(settings.retrain.work_dir), ignore_errors=True)
