"""The daemon hands freed memory back: ``daemon.memory.trim`` on glibc, in a fresh process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from factory_ai.daemon import memory

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import os, sys
sys.path.insert(0, sys.argv[1])
from factory_ai.daemon import memory
rss = lambda: int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
blocks = [bytes(2000) for _ in range(60_000)]  # ~120 MB from malloc's heap, not from mmap
kept = blocks[::50]  # a live block on every few pages keeps the heap from shrinking by itself
del blocks
held = rss()
print(held, memory.trim(), rss())
"""


@pytest.mark.skipif(memory._LIBC is None, reason="not glibc: trim is a no-op there")
def test_trim_returns_the_pages_a_freed_burst_left_behind() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE, str(ROOT)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    held, trimmed, after = done.stdout.split()
    assert trimmed == "True"
    assert float(held) - float(after) > 60, (held, after)  # most of the ~115 MB freed comes back


ARENAS = """
import sys, threading
sys.path.insert(0, sys.argv[1])
from factory_ai.daemon import memory
capped = memory.limit_arenas() if sys.argv[2] == "cap" else None
held, go = [], threading.Barrier(7)
def work():
    first = bytes(3000)  # from malloc (above Python's small-object sizes): the thread takes its arena now
    go.wait()  # all six hold one at once, so none can hand its arena on to another
    held.append([first, *(bytes(3000) for _ in range(200))])
threads = [threading.Thread(target=work) for _ in range(6)]
[t.start() for t in threads]; go.wait(); [t.join() for t in threads]
print(capped)
memory._LIBC.malloc_stats()  # one "Arena N:" block per arena, on stderr
"""


@pytest.mark.skipif(memory._LIBC is None, reason="not glibc: arenas are glibc's")
def test_the_daemon_caps_malloc_arenas_where_glibc_would_give_every_thread_one() -> None:
    def arenas(mode: str) -> int:
        env = {k: v for k, v in os.environ.items() if k not in ("MALLOC_ARENA_MAX", "GLIBC_TUNABLES")}
        done = subprocess.run([sys.executable, "-c", ARENAS, str(ROOT), mode], capture_output=True, text=True,
                              timeout=60, env=env)
        assert done.returncode == 0, done.stderr
        assert done.stdout.split()[0] == ("True" if mode == "cap" else "None")
        return done.stderr.count("Arena ")

    assert arenas("free") > memory.ARENAS  # six threads, each its own arena without the cap
    assert 1 <= arenas("cap") <= memory.ARENAS


CACHES = """
import os, sys, tempfile
sys.path.insert(0, sys.argv[1])
from sqlalchemy import event, text
from factory_ai.daemon import memory
from factory_ai.store import engine as store_engine
rss = lambda: int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
engine = store_engine.make_engine("sqlite:///" + os.path.join(tempfile.mkdtemp(), "t.db"))
if sys.argv[2] == "keep":
    event.remove(engine, "checkin", store_engine._sqlite_shrink)
with engine.begin() as c:  # ~20 MB of rows: far more than one connection's 2 MB page cache
    c.execute(text("CREATE TABLE t (i INTEGER PRIMARY KEY, v BLOB)"))
    c.execute(text("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000) "
                   "INSERT INTO t (v) SELECT randomblob(400) FROM n"))
connections = [engine.connect() for _ in range(5)]  # five pooled connections busy at once
for c in connections:
    c.execute(text("SELECT sum(length(v)) FROM t")).all()  # each fills its page cache
memory.trim()
held = rss()
for c in connections:
    c.close()  # back to the pool
memory.trim()
print(held - rss())
"""


@pytest.mark.skipif(memory._LIBC is None, reason="not glibc: trim is a no-op there")
def test_pooled_sqlite_connections_give_their_page_caches_back() -> None:
    def freed(mode: str) -> float:
        done = subprocess.run([sys.executable, "-c", CACHES, str(ROOT), mode], capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        return float(done.stdout)

    assert freed("shrink") > 6  # five caches of up to 2 MB each come back
    assert freed("keep") < 3  # without the checkin hook they stay with their connections


SCRIPT = Path(sys.executable).parent / "factory-ai"  # the installed command, as systemd and Docker start it


def _run(tmp_path: Path, env: dict[str, str], command: list[str] | None = None) -> str:
    (tmp_path / "none").mkdir(exist_ok=True)
    (tmp_path / "factory.toml").write_text('[store]\nurl = "sqlite:///plant.db"\n')
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FACTORY_AI_") and k != "PYTHONMALLOC"}
    done = subprocess.run([*(command or [sys.executable, "-m", "factory_ai"]), "--config", "factory.toml", "run",
                           "--duration", "0.5", "--no-api", "--connectors", "none"], cwd=tmp_path,
                          env={**environ, **env}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stderr


@pytest.mark.skipif(memory._LIBC is None, reason="not glibc: nothing to trim, so no reason to change allocator")
def test_the_daemon_runs_on_malloc_unless_the_operator_chose(tmp_path: Path) -> None:
    assert "Python objects on malloc;" in _run(tmp_path, {})
    assert "Python objects on pymalloc;" in _run(tmp_path, {"PYTHONMALLOC": "pymalloc"})
    if SCRIPT.is_file():
        assert "Python objects on malloc;" in _run(tmp_path, {}, [str(SCRIPT)])


def test_retraining_jobs_get_pythons_allocator_back_unless_the_operator_chose(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from factory_ai.retrain.run import child_env

    settings = SimpleNamespace(models_dir=Path("models"), database_url="sqlite:///x.db")
    monkeypatch.setenv("PYTHONMALLOC", "malloc")
    monkeypatch.setenv(memory.RESTARTED, "1")  # as the daemon's restart leaves it
    env = child_env(settings)
    assert "PYTHONMALLOC" not in env and memory.RESTARTED not in env
    monkeypatch.delenv(memory.RESTARTED)  # the operator's own setting
    assert child_env(settings)["PYTHONMALLOC"] == "malloc"


def test_a_process_that_is_not_the_command_is_never_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTHONMALLOC", raising=False)
    assert memory.system_malloc_command() is None  # pytest's process calls the CLI in-process
    monkeypatch.setattr(sys, "argv", ["factory-ai", "run"])  # as tests/test_torch_free.py's probe does
    assert memory.system_malloc_command() is None


@pytest.mark.skipif(getattr(memory._LIBC, "mallinfo2", None) is None, reason="mallinfo2 needs glibc 2.33 or later")
def test_the_heap_figures_follow_live_blocks_and_sqlites_caches(tmp_path: Path) -> None:
    import sqlite3

    before = memory.heap()
    blocks = [bytes(2000) for _ in range(10_000)]  # 20 MB, above pymalloc's 512 bytes: straight from malloc
    during = memory.heap()
    assert during["malloc_in_use"] - before["malloc_in_use"] > 18 * 2**20
    del blocks
    assert memory.heap()["malloc_in_use"] - before["malloc_in_use"] < 2 * 2**20

    connection = sqlite3.connect(tmp_path / "t.db")
    connection.execute("CREATE TABLE t (v BLOB)")
    connection.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) "
                       "INSERT INTO t SELECT randomblob(400) FROM n")
    filled = memory.heap()["sqlite"]
    connection.execute("PRAGMA shrink_memory")
    assert filled - memory.heap()["sqlite"] > 1 * 2**20  # the page cache SQLite gave back
    connection.close()


def test_camera_and_archive_file_names_stay_out_of_the_interned_strings(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """pathlib interns every name it parses, and the interned table never shrinks: a name per part
    doubled it within the soak's first hour. The camera folder and the archive must not feed it."""
    import hashlib
    import io
    import threading

    from PIL import Image

    from factory_ai.connectors.config import ImageFolder
    from factory_ai.connectors.image_folder import ImageFolderConnector
    from factory_ai.vision.archive import ImageArchive
    from tests.servers import wait_until

    interned: list[str] = []
    real = sys.intern
    lock = threading.Lock()

    def recording(text: str) -> str:
        with lock:
            interned.append(text)
        return real(text)

    def png(seed: int) -> bytes:
        out = io.BytesIO()
        Image.new("L", (8, 8), seed).save(out, format="PNG")
        return out.getvalue()

    folder = tmp_path / "camera"
    folder.mkdir()
    archive = ImageArchive(tmp_path / "images")
    config = ImageFolder.model_validate({"kind": "image-folder", "name": "cam", "path": str(folder),
                                         "settle_seconds": 0.2})
    kept: list[str] = []
    connector = ImageFolderConnector(config, lambda data, source, line: kept.append(
        archive.put(data, hashlib.sha256(data).hexdigest())) or "pass", rescan_seconds=0.2)
    monkeypatch.setattr(sys, "intern", recording)
    Path(folder, "control-9c1e.png")  # the control: pathlib's interning is what the recorder sees
    connector.start()
    try:
        assert wait_until(lambda: connector.state.up)
        names = [f"part-{seed:04d}-7f3a.png" for seed in range(3)]
        for seed, name in enumerate(names):  # written as a camera would, without pathlib
            with open(os.path.join(folder, name), "wb") as handle:
                handle.write(png(seed))
        assert wait_until(lambda: connector.state.detail["processed"] == 3)
    finally:
        connector.stop()
    monkeypatch.undo()
    assert sorted(os.listdir(folder / "processed")) == names
    assert len(kept) == 3 and all(os.path.isfile(path) for path in kept)
    if "control-9c1e.png" not in interned:
        pytest.skip("this Python's pathlib interns nothing: no table to fill")
    leaked = [text for text in interned if "7f3a" in text or any(os.path.basename(path) in text for path in kept)]
    assert leaked == []
