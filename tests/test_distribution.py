"""Line-side model distribution: a line pulls the central registry's current versions, from a
shared folder or from the central daemon over HTTP, and never takes files that fail their
sha256."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest

from factory_ai.config import load_settings
from factory_ai.daemon.service import Daemon
from factory_ai.distribution import FolderSource, pull
from factory_ai.errors import ModelError
from factory_ai.registry import Registry, sha256_file
from tests.conftest import ROOT
from tests.servers import wait_until

pytestmark = pytest.mark.slow


def central(root: Path) -> Registry:
    """A central registry with demo-surface v1 and v2 (v2: the same network, its own card)."""
    shutil.copytree(ROOT / "models" / "demo-surface" / "v1", root / "demo-surface" / "v1",
                    ignore=shutil.ignore_patterns("*.png", "*.pt"))
    shutil.copytree(root / "demo-surface" / "v1", root / "demo-surface" / "v2")
    card = json.loads((root / "demo-surface" / "v2" / "card.json").read_text())
    (root / "demo-surface" / "v2" / "card.json").write_text(json.dumps({**card, "version": "v2"}))
    registry = Registry(root, fallbacks=())
    registry.promote("demo-surface", "v1")
    return registry


def test_a_line_pulls_from_a_shared_folder_and_refuses_a_tampered_version(tmp_path: Path) -> None:
    hub = central(tmp_path / "central")
    line = Registry(tmp_path / "line", fallbacks=())
    first = pull(FolderSource(hub.root), line, "demo-surface")
    assert (first.version, first.copied, first.promoted) == ("v1", True, True)
    assert line.current("demo-surface") == "v1"
    for name in ("model.onnx", "model.int8.onnx", "card.json"):
        assert sha256_file(line.root / "demo-surface" / "v1" / name) == sha256_file(hub.root / "demo-surface" / "v1" / name)
    assert pull(FolderSource(hub.root), line, "demo-surface") == type(first)("demo-surface", "v1", False, False)

    hub.promote("demo-surface", "v2")
    assert pull(FolderSource(hub.root), line, "demo-surface").version == "v2" and line.current("demo-surface") == "v2"

    # v3's network was changed after its card was written: the line must not take it.
    shutil.copytree(hub.root / "demo-surface" / "v2", hub.root / "demo-surface" / "v3")
    hub.promote("demo-surface", "v3")
    with open(hub.root / "demo-surface" / "v3" / "model.onnx", "ab") as onnx:
        onnx.write(b"\0")
    with pytest.raises(ModelError, match="sha256"):
        pull(FolderSource(hub.root), line, "demo-surface")
    assert line.current("demo-surface") == "v2" and line.versions("demo-surface") == ["v1", "v2"]
    assert not list((line.root / "demo-surface").glob(".*"))  # no half-copied folder left behind


def test_a_line_daemon_pulls_from_the_central_daemon_over_http(tmp_path: Path) -> None:
    hub_root = tmp_path / "central" / "models"
    hub = central(hub_root)
    (tmp_path / "central" / "factory.toml").write_text(
        '[store]\nurl = "sqlite:///var/factory.db"\n[runtime]\nthreads = 1\n[api]\nport = 0\n'
        '[scheduler]\nenabled = false\n')
    center = Daemon(load_settings(tmp_path / "central" / "factory.toml", environ={}), [])
    center.start()
    try:
        host, port = center.api_address
        url = f"http://{host}:{port}"
        client = httpx.Client(base_url=url, timeout=10)
        assert client.get("/api/v1/registry/demo-surface").json() == {
            "name": "demo-surface", "current": "v1", "versions": ["v1", "v2"]}
        assert client.get("/api/v1/registry/demo-surface/v1/split.json").status_code == 404  # not an artifact
        assert client.get("/api/v1/registry/demo-surface/v1/..%2Fv2%2Fcard.json").status_code == 404
        assert client.get("/api/v1/registry/nope").status_code == 404

        (tmp_path / "line").mkdir()
        (tmp_path / "line" / "factory.toml").write_text(
            f'[store]\nurl = "sqlite:///var/factory.db"\n[runtime]\nthreads = 1\n[api]\nport = 0\n'
            f'[scheduler]\nenabled = false\n[models]\ndir = "models"\nsource = "{url}"\nsync_seconds = 0.3\n'
            '[daemon]\nreload_check_seconds = 0.2\n')
        line = Daemon(load_settings(tmp_path / "line" / "factory.toml", environ={}), [])
        line.start()
        try:
            part = next((ROOT / "sample_data" / "images" / "crack").glob("*.png")).read_bytes()
            assert line.inspector.inspect(part, "cam/1.png")["version"] == "v1"  # pulled before the first load
            hub.promote("demo-surface", "v2")
            assert wait_until(lambda: line.vision.describe()["version"] == "v2", 15)
            assert line.inspector.inspect(part, "cam/2.png")["version"] == "v2"
            assert line.health()["models"]["sync"]["pulled"] == {"demo-surface": "v2"}
        finally:
            line.stop()
    finally:
        center.stop()


def test_models_pull_on_the_command_line(tmp_path: Path, plant: Path) -> None:
    from typer.testing import CliRunner

    from factory_ai.cli import app

    hub = central(tmp_path / "central")
    runner = CliRunner()
    done = runner.invoke(app, ["models", "pull", "demo-surface", "--from", str(hub.root)])
    assert done.exit_code == 0, done.output
    assert "demo-surface v1: copied and put in service" in done.output
    assert Registry(plant / "models", fallbacks=()).current("demo-surface") == "v1"
    again = runner.invoke(app, ["models", "pull", "demo-surface", "--from", str(hub.root)])
    assert "already current" in again.output
    missing = runner.invoke(app, ["models", "pull", "demo-surface"])
    assert missing.exit_code != 0 and "--from" in missing.output
