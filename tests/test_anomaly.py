"""The good-only anomaly detector: trained on the project's synthetic good parts, it finds defect
types it never saw, with a map; judges line-side without torch; runs beside a classifier on one
line; and its findings, labelled in review, become the classifier's training data."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import ImageDraw
from sqlmodel import select

from factory_ai.registry import Registry, read_card

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def detector(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A small detector trained once on 100 synthetic good parts (64 px), judged on a fresh set
    with scratches, spots and cracks: defect types it is never shown."""
    pytest.importorskip("torch")
    from factory_ai.anomaly.train.fit import AnomalyConfig
    from factory_ai.anomaly.train.pipeline import AnomalyJob, run
    from factory_ai.samples.images import generate

    root = tmp_path_factory.mktemp("anomaly")
    generate(root / "all", per_class=100, size=64, seed=3)
    generate(root / "test", per_class=12, size=64, seed=4)
    job = AnomalyJob(data=root / "all" / "good", name="parts-anomaly", test=root / "test", max_false_reject=0.05,
                     progress=False, force=True,
                     train=AnomalyConfig(epochs=10, width=16, min_steps=16, threads=2))
    outcome = run(job, Registry(root / "models"))
    return {"root": root, "outcome": outcome, "models": root / "models", "ref": outcome.ref}


def test_it_finds_defect_types_it_never_saw(detector) -> None:
    card = detector["outcome"].card
    test = card["metrics"]["test"]
    assert test["kind"] == "real" and test["n_good"] == 12 and test["n_defect"] == 36
    assert set(test["per_type"]) == {"crack", "scratch", "spot"}
    assert test["image_auroc"] >= 0.9, test  # a coin scores 0.5
    for kind, figures in test["per_type"].items():
        assert figures["image_auroc"] >= 0.8, (kind, figures)
    for name in ("model.onnx", "card.json", "scores.png", "sheet.png", "curves.png", "evaluation.json"):
        assert (detector["ref"].path / name).is_file(), name
    assert card["parity"]["max_abs_diff"] <= 1e-4 and card["parity"]["map_max_abs_diff"] <= 1e-3


def test_the_threshold_is_the_asked_false_reject_rate_on_held_out_good_parts(detector) -> None:
    from factory_ai.anomaly.detector import AnomalyDetector
    from factory_ai.vision.images import read_pixels

    path = detector["ref"].path
    card = read_card(path)
    held = json.loads((path / "split.json").read_text())["holdout"]
    assert len(held) == card["thresholds"]["held_out_good"] >= 20
    found = AnomalyDetector.load(path, device="cpu", threads=2)
    scores = found.detect(np.stack([read_pixels(Path(p), found.spec) for p in held])).scores
    reaching = float((scores >= 1.0).mean())
    assert reaching <= 0.05  # at most the asked share of held-out good parts reach the threshold ...
    if not card["thresholds"]["tail_fitted"]:  # ... and no fewer, when their own quantile set it
        assert float((scores >= 0.999 * scores[scores < 1.0].max()).mean()) > 0.05 - 1 / len(held)
    assert card["thresholds"]["method"]
    assert card["thresholds"]["review_band"][0] < 1.0 < card["thresholds"]["review_band"][1]


def test_the_map_points_at_a_flaw(detector) -> None:
    from factory_ai.anomaly.detector import AnomalyDetector
    from factory_ai.samples.images import make_image
    from factory_ai.vision.images import to_pixels

    found = AnomalyDetector.load(detector["ref"].path, device="cpu", threads=2)
    rng = np.random.default_rng(11)
    hits = 0
    for _ in range(8):
        image = make_image("good", rng, 64)
        x, y = (int(v) for v in rng.integers(8, 40, 2))
        ImageDraw.Draw(image).ellipse((x, y, x + 12, y + 12), fill=30)
        amap = found.detect(to_pixels(image, found.spec)[None]).maps[0]
        peak_y, peak_x = np.unravel_index(amap.argmax(), amap.shape)
        hits += abs(peak_y - (y + 6)) <= 6 and abs(peak_x - (x + 6)) <= 6  # the hottest spot is on the disc
    assert hits >= 6, hits


def test_a_threshold_from_few_good_parts_extrapolates_their_tail() -> None:
    """With 40 held-out good parts and a 1 % target, the highest of them is a threshold that a
    fresh good part exceeds far more often than 1 % whenever the 40 miss the tail; the fitted
    tail keeps the false rejects near the asked share. With thousands, their own quantile sets it."""
    from factory_ai.anomaly.metrics import threshold_for

    rng = np.random.default_rng(0)
    sigmoid = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    fresh = sigmoid(rng.gumbel(-2.0, 0.8, 200_000))  # the scores of good parts the line will see
    fitted, highest = [], []
    for _ in range(200):
        held = sigmoid(rng.gumbel(-2.0, 0.8, 40))
        threshold = threshold_for(held, 0.01)
        fitted.append((fresh >= threshold.value).mean())
        highest.append((fresh >= held.max()).mean())
        assert threshold.value >= held.max()  # never below the held-out parts' own quantile
    assert 0.005 < np.mean(fitted) < 0.02 and np.mean(highest) > 0.02
    assert np.quantile(fitted, 0.9) < 0.6 * np.quantile(highest, 0.9)  # the bad draws are far less bad
    many = sigmoid(rng.gumbel(-2.0, 0.8, 5_000))
    plenty = threshold_for(many, 0.01)
    assert not plenty.fitted and plenty.value == pytest.approx(np.quantile(many, 0.99, method="higher"), rel=1e-5)


def test_a_thin_flaw_scores_as_high_as_a_round_one() -> None:
    """A crack one cell wide must not be averaged down by its clean neighbours: the score is
    the hottest cell, whatever the flaw's shape (a 3 x 3 average gave the line a third)."""
    torch = pytest.importorskip("torch")
    from factory_ai.anomaly.train.network import image_score

    line = torch.full((1, 1, 16, 16), 0.05)
    line[0, 0, 3:13, 8] = 0.9
    blob = torch.full((1, 1, 16, 16), 0.05)
    blob[0, 0, 6:9, 6:9] = 0.9
    speck = torch.full((1, 1, 16, 16), 0.05)
    speck[0, 0, 5, 5] = 0.3
    scores = image_score(torch.cat([line, blob, speck]))
    assert scores[0] == pytest.approx(0.9) and scores[1] == pytest.approx(0.9)
    assert scores[2] == pytest.approx(0.3)


def test_a_long_frame_trains_on_windows_and_is_judged_whole(monkeypatch) -> None:
    """On a canvas past ``crop_pixels`` each training step sees windows of about that area (so a
    step costs the same whatever the frame), each image its own window, while validation and
    the trained network still judge the whole canvas."""
    torch = pytest.importorskip("torch")
    from factory_ai.anomaly.train import fit as fitting

    assert fitting.crop_size(224, 288, 65_536) == (224, 288)  # within the budget: whole
    assert fitting.crop_size(256, 640, 0) == (256, 640)  # 0: never cut
    for height, width in ((256, 640), (640, 256), (192, 1440), (512, 512), (96, 2048)):
        h, w = fitting.crop_size(height, width, 65_536)
        assert h * w <= 65_536 and h % 32 == 0 and w % 32 == 0 and h <= height and w <= width
        assert min(h, w) == min(height, width, 256)  # a narrow frame keeps its short side whole

    seen: dict[str, set] = {"train": set(), "eval": set()}

    class Recording(fitting.AnomalyNet):
        def logits(self, pixels):  # noqa: ANN001, ANN202
            seen["train" if self.training else "eval"].add(tuple(pixels.shape[2:]))
            return super().logits(pixels)

    monkeypatch.setattr(fitting, "AnomalyNet", Recording)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (10, 1, 64, 320), dtype=np.uint8)
    config = fitting.AnomalyConfig(epochs=1, width=16, batch_size=4, min_steps=2, crop_pixels=64 * 128, threads=2)
    trained = fitting.fit(images[:7], images[7:], config, progress=False)
    assert seen["train"] == {(64, 128)} and seen["eval"] == {(64, 320)}
    score, heat = trained.network(torch.from_numpy(images[:1]))
    assert heat.shape == (1, 64, 320) and score.shape == (1,)

    ramp = torch.arange(320.0).expand(4, 1, 64, 320)
    windows = fitting._crop(ramp, (64, 128), torch.Generator().manual_seed(1))
    assert windows.shape == (4, 1, 64, 128) and len({float(w[0, 0, 0]) for w in windows}) > 1


def test_the_kept_weights_come_from_the_second_half_of_training(monkeypatch) -> None:
    """Early in a one-cycle schedule the validation loss jumps about and a barely trained network
    can win on it, so the weights kept (and the early stop's patience) count from the middle of
    the schedule, as for the classifier."""
    pytest.importorskip("torch")
    from factory_ai.anomaly.train import fit as fitting

    losses = iter([0.1, 0.9, 0.8, 0.85, 0.86, 0.87, 0.88, 0.89])  # epoch 1 "best" by far
    monkeypatch.setattr(fitting, "_validate", lambda network, x, target: (next(losses), 0.5))
    images = np.random.default_rng(0).integers(0, 256, (8, 1, 32, 32), dtype=np.uint8)
    config = fitting.AnomalyConfig(epochs=8, width=16, batch_size=4, min_steps=1, patience=2, threads=2)
    trained = fitting.fit(images[:5], images[5:], config, progress=False)
    assert trained.best_epoch == 4 and len(trained.history) == 6


def _without_torch(tmp_path: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    blocker = tmp_path / "no_torch" / "torch"
    blocker.mkdir(parents=True, exist_ok=True)
    (blocker / "__init__.py").write_text('raise ImportError("torch is forbidden on the line side")\n')
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FACTORY_AI_")}
    environment.update(PYTHONPATH=os.pathsep.join([str(blocker.parent), str(ROOT)]), **(env or {}))
    probe = ("import runpy, sys; sys.argv = ['factory-ai', *sys.argv[1:]]\n"
             "try:\n    runpy.run_module('factory_ai', run_name='__main__')\n"
             "finally:\n    assert 'torch' not in sys.modules, 'torch was imported'\n")
    return subprocess.run([sys.executable, "-c", probe, *args], env=environment, capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)


def test_inspect_without_torch_adds_the_score_and_judges_bad_files(detector, tmp_path: Path) -> None:
    shutil.copytree(detector["models"], tmp_path / "models")
    folder = tmp_path / "in"
    folder.mkdir()
    for kind in ("good", "crack"):
        for f in sorted((detector["root"] / "test" / kind).glob("*.png"))[:3]:
            shutil.copyfile(f, folder / f"{kind}-{f.name}")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    proc = _without_torch(tmp_path, "inspect", "--model", "parts-anomaly", "--json", "--threads", "2",
                          "--heatmaps", str(tmp_path / "maps"), str(folder),
                          env={"FACTORY_AI_MODELS__DIR": str(tmp_path / "models"),
                               "FACTORY_AI_STORE__URL": f"sqlite:///{tmp_path}/f.db"})
    assert proc.returncode == 2, proc.stderr  # one file could not be judged, the rest were
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert all(set(line) == {"path", "label", "confidence", "verdict", "error", "score"} for line in lines)
    broken = next(line for line in lines if line["path"].endswith("broken.png"))
    assert broken["verdict"] == "error" and broken["score"] is None and "not an image" in broken["error"]
    judged = [line for line in lines if line["verdict"] != "error"]
    assert len(judged) == 6 and all(line["label"] in ("good", "anomaly") for line in judged)
    cracks = [line["score"] for line in judged if "crack-" in line["path"]]
    goods = [line["score"] for line in judged if "good-" in line["path"]]
    assert min(cracks) > max(goods), (cracks, goods)
    assert len(list((tmp_path / "maps").rglob("*.png"))) == 6
    from factory_ai.store import Store
    from factory_ai.store.tables import Inspection

    with Store(f"sqlite:///{tmp_path}/f.db") as store, store.session() as session:
        rows = session.exec(select(Inspection)).all()
        assert len(rows) == 7 and all(r.score is not None for r in rows if r.verdict != "error")


def test_a_line_with_a_detector_and_a_classifier(detector, trained, tmp_path: Path, monkeypatch) -> None:
    """Rejected if either rejects; the stored inspection keeps both answers; labels given on a
    part the detector flagged, new defect types included, reach the classifier's retraining."""
    from typer.testing import CliRunner

    from factory_ai import families, review
    from factory_ai.cli import app
    from factory_ai.store import Store
    from factory_ai.store.tables import Inspection
    from factory_ai.vision.retrain import export

    shutil.copytree(detector["models"] / "parts-anomaly", tmp_path / "models" / "parts-anomaly")
    shutil.copytree(trained["models"] / "parts", tmp_path / "models" / "parts")
    (tmp_path / "models" / "parts" / "CURRENT").write_text("v1\n")
    for name in list(os.environ):
        if name.startswith("FACTORY_AI_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "factory.toml").write_text('[inspect]\nmodels = ["parts-anomaly", "parts"]\n'
                                           '[daemon]\nkeep_images = "all"\n')
    folder = tmp_path / "line"
    folder.mkdir()
    goods = sorted((detector["root"] / "test" / "good").glob("*.png"))[:4]
    spots = sorted((detector["root"] / "test" / "spot").glob("*.png"))[:4]
    for f in goods + spots:
        shutil.copyfile(f, folder / f"{f.parent.name}-{f.name}")
    result = CliRunner().invoke(app, ["inspect", str(folder), "--json", "--threads", "2"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert all("score" in line for line in lines)
    with Store(f"sqlite:///{tmp_path}/var/factory.db") as store, store.session() as session:
        rows = session.exec(select(Inspection).order_by(Inspection.id)).all()
        assert len(rows) == 8
        for row in rows:
            answers = row.answers
            assert set(answers) == {"parts-anomaly", "parts"}
            verdicts = [a["verdict"] for a in answers.values()]
            expected = "reject" if "reject" in verdicts else "review" if "review" in verdicts else "pass"
            assert row.verdict == expected, answers
            assert row.score == pytest.approx(answers["parts-anomaly"]["score"], abs=1e-6)
        flagged = next(r for r in rows if "spot-" in r.source)
        classes_of = families.card_classes(Registry(tmp_path / "models"))
        assert "dent" not in review.choices(flagged, classes_of)[0]
        review.label(session, flagged.id, "dent", "qa", classes_of)  # a type nobody had named
        review.label(session, rows[0].id, "pass", "qa", classes_of)
        with pytest.raises(Exception, match="not a class"):
            review.label(session, rows[1].id, "!!", "qa", classes_of)
        session.commit()
        labelled = review.labelled(session, model_name=["parts-anomaly", "parts"])
    data = export(labelled, None, tmp_path / "retrain", percent=0)
    assert sorted(p.name for p in data.train.iterdir()) == ["dent", "good"]  # a new class for the classifier
