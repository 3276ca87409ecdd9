"""Running the training of a challenger: ``factory-ai train`` here, or a configured command.

Why a child process even on this machine: training imports torch, and the daemon that runs
the scheduler must not (the line side is torch-free); a child also gives back every byte of
GPU memory when it ends. The run is stopped when the daemon stops. The challenger is whatever
new version appears in the registry, so a GPU server that writes to a shared registry folder,
or a batch job that finishes later, works the same way.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from threading import Event

from factory_ai.errors import GateError, ModelError
from factory_ai.registry import Registry

log = logging.getLogger(__name__)


def train(registry: Registry, name: str, command: list[str], log_path: Path, *, stopping: Event,
          timeout_minutes: float, artifact_wait_minutes: float, env: Mapping[str, str] | None = None) -> str:
    """Run ``command`` and return the version it added to ``name`` in the registry."""
    before = set(registry.versions(name))
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log.info("training a challenger for %s: %s", name, " ".join(command))
    deadline = time.monotonic() + timeout_minutes * 60
    with open(log_path, "w", encoding="utf-8") as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=dict(env) if env else None)
        try:
            while child.poll() is None:
                if stopping.wait(0.5):
                    raise ModelError("stopped: the daemon is shutting down")
                if time.monotonic() > deadline:
                    raise ModelError(f"training took longer than {timeout_minutes:g} min")
        finally:
            if child.poll() is None:
                child.terminate()
                try:
                    child.wait(10)
                except subprocess.TimeoutExpired:
                    child.kill()
    # Exit code 3: trained and registered, but its own gate kept it out of service. The version
    # exists; the champion/challenger decision reads the gate from its card.
    gated = child.returncode == GateError.exit_code and set(registry.versions(name)) - before
    if child.returncode != 0 and not gated:
        tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
        raise ModelError(f"training exited with {child.returncode}: {' | '.join(tail) or 'no output'} "
                         f"(log: {log_path})")
    wait_until = time.monotonic() + artifact_wait_minutes * 60
    while True:
        new = sorted(set(registry.versions(name)) - before, key=lambda v: int(v[1:]))
        if new:
            return new[-1]
        if time.monotonic() >= wait_until or stopping.wait(2):
            raise ModelError(f"training finished but no new version of {name} appeared in {registry.root}")


def local_command(family: str, data: Path, name: str, extra: list[str], events: Path | None = None) -> list[str]:
    """``factory-ai train`` in this Python, which picks the local GPU when there is one."""
    command = [sys.executable, "-m", "factory_ai", "train", family, "--data", str(data), "--name", name,
               "--no-progress"]
    if events is not None:
        command += ["--events", str(events)]
    return command + list(extra)


def fill(template: list[str], **values: str) -> list[str]:
    return [part.format(**values) for part in template]
