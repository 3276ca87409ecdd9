"""`factory-ai run` as a real process: SIGTERM drains and exits within 10 s, SIGKILL leaves an
intact store and the daemon resumes, systemd hears READY, WATCHDOG and STOPPING."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.servers import free_port, wait_until
from tests.test_daemon import images, write_plant

pytestmark = pytest.mark.slow


def _start(config: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FACTORY_AI_")}
    environ.update(env or {})
    return subprocess.Popen([sys.executable, "-m", "factory_ai", "--config", str(config), "run", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environ,
                            cwd=config.parent)


def _health(port: int) -> dict | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return None




def _readings(db: Path) -> int:
    try:
        with sqlite3.connect(db) as connection:
            return connection.execute("SELECT count(*) FROM readings").fetchone()[0]
    except sqlite3.OperationalError:  # the daemon has not created the schema yet
        return 0


def test_sigterm_drains_every_accepted_reading_within_10_s(tmp_path: Path, fleet: Path, sample_images: Path) -> None:
    config = write_plant(tmp_path, fleet, speed=1e6)  # the whole fleet history in a few seconds: a backlog
    port = free_port()
    process = _start(config, env={"FACTORY_AI_API__PORT": str(port)})
    try:
        assert wait_until(lambda: (_health(port) or {}).get("ingest", {}).get("accepted", 0) > 5000, 60), process.poll()
        for i, path in enumerate(images(sample_images, 5)):
            shutil.copyfile(path, tmp_path / "camera" / f"{i}.png")
        assert wait_until(lambda: (_health(port) or {}).get("connectors", {}).get("camera", {}).get("received") == 5, 60)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=15)
        took = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err[-2000:]
    assert took <= 10.0, f"stopped in {took:.1f} s"
    accepted = int(re.search(r"readings: (\d+) accepted", out).group(1))
    assert "stopped cleanly" in out and accepted > 5000
    assert _readings(tmp_path / "var" / "factory.db") == accepted  # nothing accepted was lost
    with sqlite3.connect(tmp_path / "var" / "factory.db") as connection:
        assert connection.execute("SELECT count(*) FROM inspections").fetchone()[0] == 5


def test_sigkill_leaves_an_intact_store_and_the_daemon_resumes(tmp_path: Path, fleet: Path,
                                                              sample_images: Path) -> None:
    config = write_plant(tmp_path, fleet, speed=50000, forecast=False)
    port = free_port()
    db = tmp_path / "var" / "factory.db"
    process = _start(config, env={"FACTORY_AI_API__PORT": str(port)})
    try:
        assert wait_until(lambda: db.exists() and _readings(db) > 500, 60), process.poll()
    finally:
        process.kill()  # SIGKILL: no clean-up of any kind
        process.wait(10)
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        before = connection.execute("SELECT count(*) FROM readings").fetchone()[0]
        duplicates = connection.execute(
            "SELECT count(*) FROM (SELECT sensor_id, ts FROM readings GROUP BY 1, 2 HAVING count(*) > 1)").fetchone()[0]
    assert duplicates == 0
    # While it was down the camera kept writing: the restarted daemon judges those images.
    for i, path in enumerate(images(sample_images, 3)):
        shutil.copyfile(path, tmp_path / "camera" / f"while-down-{i}.png")
    process = _start(config, "--duration", "4", env={"FACTORY_AI_API__PORT": str(port)})
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err[-2000:]
    assert _readings(db) > before
    assert "3 images judged this run" in out
    assert len(list((tmp_path / "camera" / "processed").glob("while-down-*.png"))) == 3


def test_systemd_hears_ready_watchdog_and_stopping(tmp_path: Path, fleet: Path) -> None:
    config = write_plant(tmp_path, fleet, forecast=False)
    address = str(tmp_path / "notify.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(address)
    listener.settimeout(0.5)
    process = _start(config, "--duration", "3", "--no-api",
                     env={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "400000"})
    messages: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            messages.append(listener.recv(4096).decode())
        except TimeoutError:
            pass
    process.communicate(timeout=30)
    listener.close()
    assert process.returncode == 0
    assert messages[0].startswith("READY=1")
    assert sum(m == "WATCHDOG=1" for m in messages) >= 5  # every 0.2 s over 3 s
    assert messages[-1] == "STOPPING=1"
