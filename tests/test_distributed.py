"""Distributed training: two CPU processes under torchrun (DDP over gloo) train the defect
classifier and the forecast network to the same accuracy class as one process, and only rank 0
registers the model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

ARGS = ["--image-size", "48", "--width", "12", "--epochs", "10", "--patience", "10", "--threads", "1",
        "--no-progress"]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]


def _train(launcher: list[str], name: str, data: Path, work: Path, *extra: str, family: str = "vision",
           args: list[str] = ARGS) -> dict:
    env = {**os.environ, "FACTORY_AI_MODELS__DIR": str(work / "models"), "OMP_NUM_THREADS": "1",
           "FACTORY_AI_STORE__URL": f"sqlite:///{work / 'factory.db'}"}
    command = [*launcher, "-m", "factory_ai", "train", family, "--data", str(data), "--name", name, *args, *extra]
    done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    versions = sorted(p.name for p in (work / "models" / name).iterdir() if p.name.startswith("v"))
    assert versions == ["v1"], versions  # registered once, by rank 0
    return json.loads((work / "models" / name / "v1" / "card.json").read_text())


def test_two_gloo_processes_reach_the_accuracy_of_one(tmp_path: Path) -> None:
    pytest.importorskip("torch.distributed.run")
    data = ROOT / "sample_data" / "images"
    if not data.is_dir():
        from factory_ai.samples.images import generate

        data = tmp_path / "images"
        generate(data, per_class=60, size=96, seed=0)
    single = _train([sys.executable], "single", data, tmp_path)
    ddp = _train(TORCHRUN, "ddp", data, tmp_path, "--distributed")
    assert ddp["training"]["distributed"] and ddp["training"]["processes"] == 2
    assert single["training"]["processes"] == 1
    one, two = single["metrics"]["test"]["accuracy"], ddp["metrics"]["test"]["accuracy"]
    assert one >= 0.75 and two >= 0.75, (one, two)  # both learned the task
    assert abs(one - two) <= 0.15, (one, two)  # and to the same class of accuracy


def test_distributed_outside_torchrun_says_how_to_start_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")}
    env["FACTORY_AI_MODELS__DIR"] = str(tmp_path / "models")
    done = subprocess.run([sys.executable, "-m", "factory_ai", "train", "vision", "--data",
                           str(ROOT / "sample_data" / "images"), "--name", "x", "--distributed", *ARGS],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "torchrun --nproc_per_node" in done.stderr


def test_two_gloo_processes_train_the_forecast_network_as_well_as_one(tmp_path: Path) -> None:
    pytest.importorskip("torch.distributed.run")
    fleet = ROOT / "sample_data" / "fleet"
    args = ["--events", str(fleet / "events.csv"), "--time-column", "timestamp", "--setting", "load",
            "--horizon", "48", "--rul-cap", "150", "--window", "24", "--width", "16", "--folds", "2",
            "--epochs", "12", "--members", "network", "--threads", "1", "--no-progress"]
    single = _train([sys.executable], "single", fleet / "readings.csv", tmp_path, family="forecast", args=args)
    ddp = _train(TORCHRUN, "ddp", fleet / "readings.csv", tmp_path, "--distributed", family="forecast", args=args)
    assert ddp["training"]["network"]["distributed"] is True and ddp["training"]["processes"] == 2
    one, two = (c["metrics"]["test"]["rul"]["rmse"] for c in (single, ddp))
    assert two <= max(1.25 * one, one + 3.0), (one, two)  # hours of RUL error: the same class
