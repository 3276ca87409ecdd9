"""deploy/: every file linted by the tool its format has, and checked for what it promises.

Linters (from the dev extra; a test skips with the reason where one is missing):
hadolint for the Dockerfiles, the compose-spec JSON schema (check-jsonschema) for the compose
file, kubernetes-validate --strict for the manifests, yamllint for every YAML file, and
systemd-analyze for the unit where systemd is installed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
YAML = sorted([*DEPLOY.glob("*.yml"), *DEPLOY.glob("*.yaml"), *DEPLOY.rglob("k8s/*.yaml"),
               *DEPLOY.rglob("compose/*.yml")])


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[dev]')")
    return found


def _run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT)


@pytest.mark.parametrize("dockerfile", ["Dockerfile.runtime", "Dockerfile.train"])
def test_dockerfiles_pass_hadolint(dockerfile: str) -> None:
    done = _run(_tool("hadolint"), "--no-color", str(DEPLOY / dockerfile))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_runtime_image_never_gets_torch() -> None:
    text = (DEPLOY / "Dockerfile.runtime").read_text()
    installs = [line for line in text.splitlines() if "pip install" in line or "pip wheel" in line]
    assert installs and not any("train" in line or "torch" in line for line in installs)
    assert "find_spec('torch') is not None" in text  # the build fails if torch sneaks in
    assert "USER 10001" in text and "HEALTHCHECK" in text


def test_compose_file_matches_the_compose_spec() -> None:
    done = _run(_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
                str(DEPLOY / "docker-compose.yml"))
    assert done.returncode == 0, done.stdout + done.stderr
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    assert set(compose["services"]) == {"daemon", "postgres", "mosquitto", "prometheus"}
    assert compose["services"]["prometheus"]["profiles"] == ["monitoring"]  # optional
    assert compose["services"]["daemon"]["build"]["dockerfile"] == "deploy/Dockerfile.runtime"
    for mount in compose["services"]["daemon"]["volumes"]:  # the config files it mounts exist
        source = mount.split(":")[0]
        if source.startswith("./"):
            assert (DEPLOY / source).exists() or source == "./camera", source


def test_the_compose_stack_config_loads() -> None:
    from factory_ai.config import load_settings
    from factory_ai.connectors.config import load_folder

    settings = load_settings(DEPLOY / "compose" / "factory.toml", environ={})
    assert settings.api.host == "0.0.0.0"
    assert {c.kind for c in load_folder(DEPLOY / "compose" / "connectors")} == {"image-folder", "mqtt"}


def test_kubernetes_manifests_validate_strictly() -> None:
    manifests = sorted((DEPLOY / "k8s").glob("*.yaml"))
    done = _run(_tool("kubernetes-validate"), "--strict", *map(str, manifests))
    assert done.returncode == 0, done.stdout + done.stderr
    train = yaml.safe_load((DEPLOY / "k8s" / "train-job.yaml").read_text())
    container = train["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["torchrun"] and "--distributed" in container["args"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 4
    assert "--nproc_per_node=4" in container["args"]


def test_the_line_daemon_manifest_config_loads(tmp_path: Path) -> None:
    """The factory.toml and connector inside the ConfigMap are valid factory-ai config."""
    from factory_ai.config import load_settings
    from factory_ai.connectors.config import load_file

    config_map = next(d for d in yaml.safe_load_all((DEPLOY / "k8s" / "line-daemon.yaml").read_text())
                      if d["kind"] == "ConfigMap")
    (tmp_path / "factory.toml").write_text(config_map["data"]["factory.toml"])
    (tmp_path / "camera.toml").write_text(config_map["data"]["camera.toml"])
    assert load_settings(tmp_path / "factory.toml", environ={}).daemon.line == "line1"
    assert load_file(tmp_path / "camera.toml").line == "line1"


@pytest.mark.parametrize("path", YAML, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_yaml_passes_yamllint(path: Path) -> None:
    config = "{extends: default, rules: {line-length: {max: 120}, document-start: disable, truthy: {check-keys: false}}}"
    done = _run(_tool("yamllint"), "-s", "-d", config, str(path))
    assert done.returncode == 0, done.stdout + done.stderr


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    unit = (DEPLOY / "systemd" / "factory-ai.service").read_text()
    assert "Type=notify" in unit and "WatchdogSec=" in unit
    # The unit's ExecStart names the plant's venv; point it at this one so verify checks the rest.
    local = unit.replace("/opt/factory-ai/.venv/bin/factory-ai", str(Path(sys.executable).parent / "factory-ai"))
    (tmp_path / "factory-ai.service").write_text(local)
    done = subprocess.run([analyze, "verify", str(tmp_path / "factory-ai.service")], capture_output=True,
                          text=True, timeout=60)
    # verify exits 0 even for a unit it had to ignore lines of; what it says about the file counts.
    problems = [line for line in (done.stdout + done.stderr).splitlines() if "factory-ai.service" in line]
    assert done.returncode == 0 and not problems, done.stdout + done.stderr


def test_every_deployment_switches_onnxruntime_telemetry_off() -> None:
    """The package sets it for its own commands; the unit and the images set it for anything else
    that imports onnxruntime first (a health probe, an operator's script)."""
    for where in ("systemd/factory-ai.service", "Dockerfile.runtime", "Dockerfile.train"):
        text = (DEPLOY / where).read_text()
        assert "ORT_DISABLE_TELEMETRY=1" in text, where
