"""The torch line: everything a line-side machine runs works with torch unimportable."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Runs a factory-ai command in-process, then reports what got imported.
PROBE = """
import json, sys
from factory_ai.cli import main
sys.argv = ["factory-ai", *json.loads(sys.argv[1])]
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code or 0
loaded = sorted(m for m in sys.modules if m == "torch" or m.startswith(("torch.", "onnxscript", "skl2onnx", "factory_ai.training",
                                                                   "factory_ai.vision.train", "factory_ai.forecast.train",
                                                                   "factory_ai.anomaly.train", "factory_ai.health.train")))
print(json.dumps({"code": code, "loaded": loaded}), file=sys.stderr)
"""


def run_without_torch(tmp_path: Path, *args: str, cwd: Path) -> tuple[dict, subprocess.CompletedProcess]:
    blocker = tmp_path / "no_torch"
    (blocker / "torch").mkdir(parents=True, exist_ok=True)
    (blocker / "torch" / "__init__.py").write_text('raise ImportError("torch is forbidden on the line side")\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACTORY_AI_")}
    env["PYTHONPATH"] = os.pathsep.join([str(blocker), str(ROOT)])
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(list(args))], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    return report, proc


def test_blocker_really_blocks(tmp_path: Path) -> None:
    blocker = tmp_path / "no_torch" / "torch"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text('raise ImportError("blocked")\n')
    proc = subprocess.run([sys.executable, "-c", "import torch"], env={**os.environ, "PYTHONPATH": str(blocker.parent)},
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "blocked" in proc.stderr


@pytest.mark.slow
def test_inspect_runs_and_stores_without_torch(tmp_path: Path, trained, sample_images: Path) -> None:
    shutil.copytree(trained["models"] / "parts", tmp_path / "models" / "parts")
    (tmp_path / "models" / "parts" / "CURRENT").write_text("v1\n")
    report, proc = run_without_torch(tmp_path, "inspect", "--model", "parts", "--json", "--heatmaps", "heat",
                                     "--int8", str(sample_images / "crack"), cwd=tmp_path)
    assert report["code"] == 0, proc.stderr
    assert report["loaded"] == []
    assert len(proc.stdout.splitlines()) == 30
    assert (tmp_path / "var" / "factory.db").exists() and list((tmp_path / "heat").glob("*.png"))


@pytest.mark.parametrize("args", [["inspect", "--help"], ["predict", "--help"], ["models", "list"], ["db", "init"], ["events", "list"],
                                  ["report", "--format", "pdf", "-o", "report.pdf"],
                                  ["--help"]])
def test_line_side_commands_do_not_load_torch(tmp_path: Path, args: list[str]) -> None:
    report, proc = run_without_torch(tmp_path, *args, cwd=tmp_path)
    assert report["code"] == 0, proc.stderr
    assert report["loaded"] == []


def test_import_contract() -> None:
    """import-linter: no line-side module imports torch, directly or through another module."""
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if lint is None:
        pytest.skip("import-linter not installed (pip install 'factory-ai[dev]')")
    proc = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "line-side code never imports torch KEPT" in proc.stdout
    assert "Contracts: 2 kept, 0 broken." in proc.stdout  # the torch line and the layers


def test_predict_runs_and_stores_without_torch(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "models" / "demo-fleet", tmp_path / "models" / "demo-fleet")
    fleet = ROOT / "sample_data" / "fleet"
    report, proc = run_without_torch(tmp_path, "predict", "--model", "demo-fleet", "--json", "--threads", "2",
                                     "--data", str(fleet / "readings.csv"), "--events", str(fleet / "events.csv"),
                                     "--time-column", "timestamp", cwd=tmp_path)
    assert report["code"] == 0, proc.stderr
    assert report["loaded"] == []
    assert len(proc.stdout.splitlines()) == 12
    assert (tmp_path / "var" / "factory.db").exists()


@pytest.mark.slow
def test_daemon_runs_without_torch(tmp_path: Path, fleet: Path, sample_images: Path) -> None:
    """The whole daemon (connectors, live inspection, scoring, API) with torch unimportable."""
    from tests.test_daemon import images, write_plant

    config = write_plant(tmp_path, fleet)
    (tmp_path / "camera").mkdir()
    for i, path in enumerate(images(sample_images, 4)):
        shutil.copyfile(path, tmp_path / "camera" / f"{i}.png")
    report, proc = run_without_torch(tmp_path, "--config", str(config), "run", "--duration", "4",
                                     "--forecast-interval", "1", cwd=tmp_path)
    assert report["code"] == 0, proc.stderr
    assert report["loaded"] == []
    assert "4 images judged this run" in proc.stdout
    assert "scoring runs this run" in proc.stdout and "0 scoring runs" not in proc.stdout
