"""Real servers for tests, started on 127.0.0.1 in a temporary folder and stopped afterwards.

Each starter raises :class:`Unavailable` with the reason when the server's program is not
installed, so the fixture can skip with a clear message instead of failing.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


class Unavailable(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


@dataclass
class Postgres:
    url: str
    port: int
    data_dir: Path
    _bin: Path
    _as_user: list[str]
    _options: str = ""

    def pause(self) -> None:
        """Stop the server but keep its data: the database 'goes away' for a while."""
        subprocess.run([*self._as_user, str(self._bin / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"],
                       capture_output=True, timeout=60, check=True)

    def resume(self) -> None:
        subprocess.run([*self._as_user, str(self._bin / "pg_ctl"), "-D", str(self.data_dir), "-o", self._options,
                        "-l", str(self.data_dir / "server.log"), "-w", "start"], capture_output=True, timeout=60,
                       check=True)

    def stop(self) -> None:
        subprocess.run([*self._as_user, str(self._bin / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def psql(self, sql: str) -> str:
        out = subprocess.run([str(self._bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "factory",
                              "-d", "postgres", "-Atc", sql], capture_output=True, text=True, check=True, timeout=60)
        return out.stdout


def _postgres_bin() -> Path:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(os.path.join(candidate, "initdb"), os.X_OK):
            return Path(candidate)
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise Unavailable("PostgreSQL is not installed (make system-deps, or apt-get install postgresql)")


def start_postgres() -> Postgres:
    """A throw-away PostgreSQL cluster with trust auth for user ``factory`` on a free port."""
    bindir = _postgres_bin()
    data = Path(tempfile.mkdtemp(prefix="factory-ai-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: run it as the postgres user
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            raise Unavailable("running as root and there is no 'postgres' user to run PostgreSQL as") from None
        os.chown(data, user.pw_uid, user.pw_gid)
        runuser = shutil.which("runuser") or shutil.which("su")
        if runuser is None:
            raise Unavailable("running as root without runuser/su to drop to the postgres user")
        as_user = [runuser, "-u", "postgres", "--"] if runuser.endswith("runuser") else [runuser, "postgres", "-c"]
    port = free_port()
    run = lambda *cmd: subprocess.run([*as_user, *cmd], capture_output=True, text=True, timeout=120)  # noqa: E731
    init = run(str(bindir / "initdb"), "-D", str(data), "-U", "factory", "--auth=trust", "-E", "UTF8", "--no-sync")
    if init.returncode != 0:
        shutil.rmtree(data, ignore_errors=True)
        raise Unavailable(f"initdb failed: {init.stderr.strip()[-300:]}")
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    start = run(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(data / "server.log"), "-w", "start")
    if start.returncode != 0:
        log = (data / "server.log").read_text(errors="replace")[-500:] if (data / "server.log").exists() else ""
        shutil.rmtree(data, ignore_errors=True)
        raise Unavailable(f"PostgreSQL did not start: {start.stderr.strip()[-300:]} {log}")
    server = Postgres(url=f"postgresql+psycopg://factory@127.0.0.1:{port}/postgres", port=port, data_dir=data,
                      _bin=bindir, _as_user=as_user, _options=options)
    return server


def _mosquitto_bin() -> str:
    for candidate in (shutil.which("mosquitto"), "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise Unavailable("Mosquitto is not installed (make system-deps, or apt-get install mosquitto)")


@dataclass
class Mosquitto:
    """A private Mosquitto broker with persistence on, so QoS 1 sessions survive a restart."""

    port: int
    folder: Path
    _bin: str
    _process: subprocess.Popen | None = None

    def start(self) -> None:
        config = self.folder / "mosquitto.conf"
        config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {self.folder}/\nautosave_interval 1\nlog_dest file {self.folder}/broker.log\n"
            "max_queued_messages 100000\n")
        self._process = subprocess.Popen([self._bin, "-c", str(config)], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
        try:
            wait_for_port(self.port, 10)
        except TimeoutError:
            self.stop()
            log = (self.folder / "broker.log").read_text(errors="replace")[-500:] if (self.folder / "broker.log").exists() else ""
            raise Unavailable(f"Mosquitto did not start: {log}") from None

    def stop(self) -> None:
        """Stop the broker the way systemd would (SIGTERM: it saves its persistence file)."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def start_mosquitto() -> Mosquitto:
    broker = Mosquitto(port=free_port(), folder=Path(tempfile.mkdtemp(prefix="factory-ai-mqtt-")),
                       _bin=_mosquitto_bin())
    if os.geteuid() == 0:  # mosquitto drops to the 'mosquitto' user when started as root
        try:
            user = pwd.getpwnam("mosquitto")
            os.chown(broker.folder, user.pw_uid, user.pw_gid)
        except KeyError:
            pass
    broker.start()
    return broker
