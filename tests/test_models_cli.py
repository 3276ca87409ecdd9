"""``factory-ai train vision`` and ``factory-ai models`` through the CLI, with the store mirror."""

import json
import shutil
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from factory_ai.cli import app
from factory_ai.store import ModelVersion, Store

pytestmark = pytest.mark.slow


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def test_train_with_a_given_test_folder_then_manage_versions(plant: Path, sample_images: Path, monkeypatch) -> None:
    # Version management, not model quality: the two-epoch models here are let through the gate
    # (tests/test_vision_robust.py holds the gate to its defaults).
    for key, value in (("GATE_MARGIN", "0"), ("MAX_FALSE_REJECT", "1"), ("MAX_ESCAPE", "1")):
        monkeypatch.setenv(f"FACTORY_AI_VISION__{key}", value)
    data, test = plant / "data", plant / "test"
    for label in ("good", "scratch", "spot"):
        files = sorted((sample_images / label).glob("*.png"))
        (data / label).mkdir(parents=True)
        (test / label).mkdir(parents=True)
        for f in files[:18]:
            shutil.copy(f, data / label / f.name)
        for f in files[18:]:
            shutil.copy(f, test / label / f.name)
    shutil.copy(files[0], test / "spot" / "copy_of_train_image.png")  # also in the training folder

    common = ["--image-size", "32", "--width", "4", "--epochs", "2", "--threads", "2", "--no-progress"]
    result = invoke("train", "vision", "--data", "data", "--test", "test", "--name", "parts", "--good", "good", *common)
    assert result.exit_code == 0, result.output
    assert "model parts v1" in result.stdout and "now current" in result.stdout
    split = json.loads((plant / "models" / "parts" / "v1" / "split.json").read_text())
    assert {f["root"] for f in split["files"]["test"]} == {"test"}
    assert len(split["files"]["test"]) == 3 * (len(files) - 18) + 1
    assert files[0].name not in {Path(f["path"]).name for f in split["files"]["train"] + split["files"]["val"]}

    result = invoke("train", "vision", "--data", "data", "--name", "parts", *common)
    assert result.exit_code == 0, result.output
    assert "factory-ai models promote parts v2" in result.stdout

    listing = invoke("models", "list").stdout
    assert "*v1" in listing and " v2" in listing
    assert invoke("models", "promote", "parts", "v2", "--reason", "trial").exit_code == 0
    assert "*v2" in invoke("models", "list").stdout
    shown = invoke("models", "show", "parts")
    assert "parts v2" in shown.stdout and "sha256" in shown.stdout
    card = json.loads(invoke("models", "show", "parts:v1", "--json").stdout)
    assert card["version"] == "v1" and card["good_classes"] == ["good"]

    with Store(f"sqlite:///{plant / 'var' / 'factory.db'}") as store, store.session() as s:
        rows = {r.version: r for r in s.exec(select(ModelVersion)).all()}
    assert rows["v2"].status == "current" and rows["v1"].status == "registered"
    assert rows["v1"].sha256 == card["artifacts"]["model.onnx"]["sha256"]

    assert invoke("models", "rollback", "parts").exit_code == 0
    assert "*v1" in invoke("models", "list").stdout
    with Store(f"sqlite:///{plant / 'var' / 'factory.db'}") as store, store.session() as s:
        current = s.exec(select(ModelVersion).where(ModelVersion.status == "current")).all()
    assert [r.version for r in current] == ["v1"]


def test_cli_errors_are_one_line(plant: Path) -> None:
    result = invoke("models", "promote", "ghost", "v1")
    assert result.exit_code == 1 and result.stderr.startswith("error: model 'ghost' not found")
    (plant / "empty").mkdir()
    result = invoke("train", "vision", "--data", "empty", "--name", "x")
    assert result.exit_code == 1 and "no class folders" in result.stderr
    result = invoke("train", "vision", "--data", "empty", "--name", "x", "--device", "tpu")
    assert result.exit_code == 2 and "auto, cpu or cuda" in result.output


def test_db_commands(plant: Path) -> None:
    from factory_ai.store.schema import HEAD

    assert f"schema {HEAD}" in invoke("db", "init").stdout
    status = invoke("db", "status").stdout
    assert f"schema:   {HEAD}" in status and "inspections" in status and "job_runs" in status
    assert f"{HEAD} -> {HEAD}" in invoke("db", "upgrade").stdout


def test_db_upgrade_from_the_first_schema_keeps_the_rows(plant: Path) -> None:
    """A plant database made by an older factory-ai (schema 0001) upgrades in place."""
    from sqlalchemy import create_engine, text

    from factory_ai.store.schema import HEAD, upgrade

    (plant / "var").mkdir()
    engine = create_engine(f"sqlite:///{plant / 'var' / 'factory.db'}")
    upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO inspections (ts, source, verdict) VALUES ('2026-01-01 00:00:00+00:00', "
                          "'cam/a.png', 'pass')"))
    engine.dispose()
    result = invoke("db", "status")
    assert "run `factory-ai db upgrade`" in result.stderr or "0001" in result.stdout
    assert f"0001 -> {HEAD}" in invoke("db", "upgrade").stdout
    status = invoke("db", "status").stdout
    assert "reviews" in status and "deliveries" in status
    assert [line.split() for line in status.splitlines() if line.strip().startswith("inspections")] == [
        ["inspections", "1"]]
