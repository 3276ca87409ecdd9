"""A daemon started on defaults says what it will not do and why, and adopts the one model it can."""

import shutil
from pathlib import Path

from factory_ai.config import load_settings
from factory_ai.connectors.config import load_file
from factory_ai.daemon.first_run import adopt_and_explain
from factory_ai.registry import Registry

ROOT = Path(__file__).resolve().parent.parent


def test_the_only_forecast_model_is_used_and_every_gap_is_named(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "models" / "demo-fleet", tmp_path / "models" / "demo-fleet")
    (tmp_path / "connectors").mkdir()
    (tmp_path / "camera").mkdir()
    (tmp_path / "connectors" / "camera.toml").write_text('kind = "image-folder"\npath = "../camera"\n')
    settings = load_settings(environ={"FACTORY_AI_MODELS__DIR": str(tmp_path / "models")})
    configs = [load_file(tmp_path / "connectors" / "camera.toml")]
    lines = adopt_and_explain(settings, Registry(settings.models_dir), configs)
    assert settings.daemon.forecast_model == "demo-fleet"
    assert any(line.startswith("using demo-fleet, the only failure forecast model") for line in lines), lines
    assert any("no machine health model is registered (factory-ai train health); set [daemon] health_model" in line
               for line in lines), lines
    assert any(line.startswith("nothing to judge yet: camera folder") and "camera" in line for line in lines), lines

    # Two forecast models and a camera folder with an image: nothing is guessed, nothing said of the folder.
    shutil.copytree(ROOT / "models" / "demo-fleet", tmp_path / "models" / "second-fleet")
    (tmp_path / "camera" / "part.png").write_bytes(b"png")
    settings = load_settings(environ={"FACTORY_AI_MODELS__DIR": str(tmp_path / "models")})
    lines = adopt_and_explain(settings, Registry(settings.models_dir), configs)
    assert settings.daemon.forecast_model is None
    assert any("2 failure forecast models are registered (demo-fleet, second-fleet)" in line
               and "set [daemon] forecast_model" in line for line in lines), lines
    assert not any("camera folder" in line for line in lines)
