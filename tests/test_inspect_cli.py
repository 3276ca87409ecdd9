"""``factory-ai inspect`` as an operator runs it: output lines, JSON, bad files, heatmaps, store."""

import json
import shutil
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from factory_ai.cli import app
from factory_ai.store import Inspection, Store
from tests.badimages import write_bad_images

pytestmark = pytest.mark.slow


@pytest.fixture
def line(plant: Path, trained, sample_images: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A plant folder whose registry holds the session's trained model as 'parts'."""
    shutil.copytree(trained["models"] / "parts", plant / "models" / "parts")
    (plant / "models" / "parts" / "CURRENT").write_text("v1\n")
    shutil.copytree(sample_images / "spot", plant / "camera" / "spot")
    shutil.copytree(sample_images / "good", plant / "camera" / "good")
    monkeypatch.setenv("FACTORY_AI_INSPECT__MODEL", "parts")
    monkeypatch.setenv("FACTORY_AI_RUNTIME__THREADS", "2")
    return plant


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def test_one_line_per_image(line: Path) -> None:
    result = invoke("inspect", "camera/spot/spot_000.png", "camera/good")
    assert result.exit_code == 0, result.output
    rows = [r.split("\t") for r in result.stdout.splitlines()]
    assert len(rows) == 1 + 30
    path, label, confidence, verdict = rows[0]
    assert path == "camera/spot/spot_000.png"
    assert label in ("crack", "good", "scratch", "spot")
    assert 0 <= float(confidence) <= 1
    assert verdict in ("pass", "reject", "review")
    assert "31 images" in result.stderr and "CPUExecutionProvider" in result.stderr


def test_json_lines_have_exactly_the_promised_keys(line: Path) -> None:
    result = invoke("inspect", "--json", "camera/good/good_00*.png")
    assert result.exit_code == 0, result.output
    records = [json.loads(r) for r in result.stdout.splitlines()]
    assert len(records) == 10
    for rec in records:
        assert set(rec) == {"path", "label", "confidence", "verdict", "error"}
        assert rec["error"] is None
        assert (rec["verdict"] == "review") == (rec["confidence"] < 0.6)
        if rec["verdict"] != "review":
            assert rec["verdict"] == ("pass" if rec["label"] == "good" else "reject")


def test_bad_files_fail_alone_and_exit_2(line: Path) -> None:
    expected = write_bad_images(line / "camera" / "bad")
    result = invoke("inspect", "--json", "camera/bad", "camera/spot", "camera/missing.png")
    assert result.exit_code == 2, result.output
    records = {Path(r["path"]).name: r for r in map(json.loads, result.stdout.splitlines())}
    for name, fragment in expected.items():
        assert records[name]["verdict"] == "error"
        assert fragment in records[name]["error"], records[name]
        assert records[name]["label"] is None and records[name]["confidence"] is None
    assert records["missing.png"]["error"] == "no such file or folder"
    judged = [r for r in records.values() if r["error"] is None]
    assert len(judged) == 30  # every good file was still judged
    with Store(f"sqlite:///{line / 'var' / 'factory.db'}") as store, store.session() as s:
        rows = s.exec(select(Inspection)).all()
    # Every file is stored, a bad one with its reason; a path that names nothing is no product.
    assert len(rows) == len(records) - 1 and sum(r.verdict == "error" for r in rows) == len(expected)
    assert {Path(r.source).name for r in rows if r.error} == set(expected)


def test_results_are_stored_with_model_and_provider(line: Path) -> None:
    result = invoke("inspect", "--line", "L3", "camera/spot")
    assert result.exit_code == 0, result.output
    printed = {r.split("\t")[0]: r.split("\t") for r in result.stdout.splitlines()}
    with Store(f"sqlite:///{line / 'var' / 'factory.db'}") as store, store.session() as s:
        rows = s.exec(select(Inspection)).all()
    assert len(rows) == 30
    for row in rows:
        assert row.model_name == "parts" and row.model_version == "v1"
        assert row.provider == "CPUExecutionProvider" and row.line == "L3"
        assert row.ts.tzinfo is not None and len(row.image_sha256) == 64
        shown = printed[str(Path(row.source).relative_to(line))]
        assert shown[1] == row.label and shown[3] == row.verdict
        assert abs(float(shown[2]) - row.confidence) < 5e-4
        assert abs(sum(row.scores.values()) - 1) < 1e-4


def test_heatmap_overlays_mirror_the_input_folders(line: Path) -> None:
    result = invoke("inspect", "--heatmaps", "heat", "--no-store", "camera")
    assert result.exit_code == 0, result.output
    written = sorted(p.relative_to(line / "heat").as_posix() for p in (line / "heat").rglob("*.png"))
    assert len(written) == 60
    assert "spot/spot_003.heatmap.png" in written
    from PIL import Image

    overlay = Image.open(line / "heat" / "spot" / "spot_003.heatmap.png")
    assert overlay.mode == "RGB" and overlay.size == (64, 64)  # the original image's size
    assert not (line / "var" / "factory.db").exists()


def test_int8_artifact_judges_too(line: Path) -> None:
    fp32 = invoke("inspect", "--json", "--no-store", "camera/spot")
    int8 = invoke("inspect", "--json", "--no-store", "--int8", "camera/spot")
    assert fp32.exit_code == int8.exit_code == 0
    a = [json.loads(r)["label"] for r in fp32.stdout.splitlines()]
    b = [json.loads(r)["label"] for r in int8.stdout.splitlines()]
    assert sum(x == y for x, y in zip(a, b, strict=True)) >= 0.8 * len(a)


def test_missing_and_corrupt_models_are_one_line_errors(line: Path) -> None:
    result = invoke("inspect", "--model", "nothing", "camera/spot")
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0 and "model 'nothing' not found" in result.stderr
    onnx = line / "models" / "parts" / "v1" / "model.onnx"
    onnx.write_bytes(onnx.read_bytes()[:1000])
    result = invoke("inspect", "camera/spot")
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0 and "does not match the card" in result.stderr


def test_unreachable_database_fails_before_judging(line: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACTORY_AI_STORE__URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    result = invoke("inspect", "camera/spot")
    assert result.exit_code == 1 and "cannot open the database" in result.stderr
    assert result.stdout == ""
    assert invoke("inspect", "--no-store", "camera/spot").exit_code == 0


def test_review_verdicts_keep_their_image_for_the_queue(line: Path) -> None:
    """As in the daemon ([daemon] keep_images = review): parts judged here reach the review queue
    with their picture; the others are not copied."""
    sure = sorted(json.loads(r)["confidence"] for r in invoke("inspect", "--json", "--no-store", "camera/spot")
                  .stdout.splitlines())
    result = invoke("inspect", "--review-below", f"{sure[len(sure) // 2]:.6f}", "camera/spot")  # about half
    assert result.exit_code == 0, result.output
    with Store(f"sqlite:///{line / 'var' / 'factory.db'}") as store, store.session() as s:
        rows = s.exec(select(Inspection)).all()
    review = [r for r in rows if r.verdict == "review"]
    assert review and len(review) < len(rows)  # some parts were sure enough, some not
    for row in rows:
        if row.verdict == "review":
            kept = Path(row.image_path)
            assert kept.is_relative_to(line / "var" / "images") and kept.read_bytes() == Path(row.source).read_bytes()
        else:
            assert row.image_path is None
