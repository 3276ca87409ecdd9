"""What `pip install factory-ai` gets: the line-side dependencies only, and the demo model."""

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_base_install_has_no_torch_and_extras_are_split() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = " ".join(project["dependencies"]).lower()
    assert "torch" not in base and "onnxruntime" in base
    extras = project["optional-dependencies"]
    assert any(d.startswith("torch") for d in extras["train"])
    assert any(d.startswith("onnxruntime-gpu") for d in extras["gpu"])
    assert project["scripts"]["factory-ai"] == "factory_ai.cli:main"


@pytest.mark.slow
def test_wheel_carries_the_demo_model(tmp_path: Path) -> None:
    pytest.importorskip("hatchling")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    wheel = next(tmp_path.glob("factory_ai-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    bundled = "factory_ai/bundled_models/demo-surface/"
    assert bundled + "CURRENT" in names
    current = zipfile.ZipFile(wheel).read(bundled + "CURRENT").decode().strip()
    assert {bundled + f"{current}/model.onnx", bundled + f"{current}/card.json"} <= names
    assert "factory_ai/store/migrations/versions/0001_initial_schema.py" in names
    assert not any(n.startswith("tests/") or "/network.pt" in n for n in names)
