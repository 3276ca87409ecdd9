"""Handing memory the daemon has freed back to the operating system.

Why: glibc's malloc keeps freed blocks inside the process for reuse. After a model swap (the
new ONNX session is loaded beside the old one, then the old one is freed) or a broker outage
(queues fill, then drain), that memory stayed: the hour-long soak saw RSS step up about 7 MB
at a promotion and a little at each broker restart, and never come back down, which reads as
a leak on a plant's monitoring. ``malloc_trim(0)`` returns free pages at once; the daemon
calls it after a swap and once a minute. Where the C library is not glibc (musl, macOS) it
does nothing.

Python's own small-object allocator (pymalloc) cannot be trimmed: it takes memory in 1 MiB
arenas and hands an arena back only when every object in it is gone. A broker outage is
followed by a burst (tens of thousands of readings queued at once, in fresh arenas); any
long-lived object that another thread allocates during the burst then pins its arena, and the
hour-long soak saw RSS climb 1.5-2 MB at every broker restart, never to come down. On the C
library's malloc the same freed memory is returned page by page at the next trim: with five
restarts in nine minutes RSS went up and down instead of climbing at each one (+9.6 MB/h
against pymalloc's +22.3 over those minutes; ``bench/soak.py``, see the README). So
``factory-ai run`` starts itself again with ``PYTHONMALLOC=malloc`` (``system_malloc_command``)
unless the operator chose an allocator.

The daemon also caps malloc's arenas (``limit_arenas``). glibc gives each new thread an arena
of its own, up to eight per core; the daemon runs some twenty threads (connectors, writer, API
workers, onnxruntime), and every arena keeps its own high-water mark and its own fragments, so
RSS creeps up as each thread's peak is reached in turn. Two arenas is the usual cure for
long-running multi-threaded servers; the threads that share one contend for its lock only for
the few malloc calls Python makes outside its own small-object allocator.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

TRIM_SECONDS = 60.0  # how often the daemon trims: cheap (a few ms), and a minute bounds any plateau
ARENAS = 2  # malloc arenas for the whole daemon (see above)
_M_ARENA_MAX = -8  # mallopt's parameter number, from glibc's malloc.h


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                    "fsmblks", "uordblks", "fordblks", "keepcost")]


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        libc.malloc_trim.restype = ctypes.c_int
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.mallopt.restype = ctypes.c_int
        if hasattr(libc, "mallinfo2"):  # glibc 2.33 and later
            libc.mallinfo2.argtypes = []
            libc.mallinfo2.restype = _MallInfo2
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _glibc()


def trim() -> bool:
    """Return the heap's free pages to the system; True when some were returned."""
    if _LIBC is None:
        return False
    try:
        return bool(_LIBC.malloc_trim(0))
    except Exception as exc:  # noqa: BLE001 - never worth stopping the daemon for
        log.debug("malloc_trim failed: %s", exc)
        return False


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap malloc's arenas; call it before the daemon starts its threads (threads that already
    have an arena keep it). An operator's own setting (``MALLOC_ARENA_MAX``, or
    ``glibc.malloc.arena_max`` in ``GLIBC_TUNABLES``) wins. True when the cap was set."""
    if _LIBC is None or "MALLOC_ARENA_MAX" in os.environ or "arena_max" in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    try:
        return bool(_LIBC.mallopt(_M_ARENA_MAX, arenas))
    except Exception as exc:  # noqa: BLE001 - a tuning knob, never worth stopping the daemon for
        log.debug("mallopt failed: %s", exc)
        return False


def heap() -> dict[str, int] | None:
    """What the process's memory is made of, in bytes, for the daemon's metrics.

    ``malloc_in_use``: live blocks (Python's objects on malloc, onnxruntime's, SQLite's);
    ``malloc_free``: freed blocks malloc still holds in its arenas; ``sqlite``: SQLite's own heap
    (page caches, prepared statements, schemas), part of ``malloc_in_use``. RSS alone cannot tell
    a leak (in use grows) from fragmentation (free grows) or from SQLite's caches; these can.
    A figure this C library or SQLite build does not give is left out; None when neither does.
    ``mallinfo2`` walks malloc's free lists under its lock: about 2 ms on a fragmented heap, once
    a scrape."""
    figures: dict[str, int] = {}
    if _LIBC is not None and hasattr(_LIBC, "mallinfo2"):
        info = _LIBC.mallinfo2()
        figures["malloc_in_use"] = info.uordblks + info.hblkhd
        figures["malloc_free"] = info.fordblks
    if (used := _sqlite_memory_used()) is not None:
        figures["sqlite"] = used
    return figures or None


def _sqlite_memory_used() -> int | None:
    module = sys.modules.get("_sqlite3")  # not imported: no SQLite in this process
    path = getattr(module, "__file__", None)
    used = _sqlite_counter(path) if path else None
    return None if used is None else int(used())


@functools.cache
def _sqlite_counter(path: str) -> Any:
    """``sqlite3_memory_used`` of the SQLite that Python's sqlite3 module runs on, looked up once:
    through its extension module, whose dependencies dlsym searches too (a shared libsqlite3, or
    one linked in statically and exported); None where it cannot be found."""
    try:
        used = ctypes.CDLL(path).sqlite3_memory_used
    except (OSError, AttributeError):
        return None
    used.argtypes = []
    used.restype = ctypes.c_int64
    return used


def allocator() -> str:
    """Which allocator Python's objects come from in this process: ``malloc`` or ``pymalloc``
    (Python's default; ``pymalloc_debug`` and the like are reported as set)."""
    if sys.flags.ignore_environment:  # python -E: PYTHONMALLOC was not read
        return "pymalloc"
    return os.environ.get("PYTHONMALLOC") or "pymalloc"


RESTARTED = "FACTORYAI_SET_PYTHONMALLOC"  # marks PYTHONMALLOC as ours (outside FACTORY_AI_, which holds
# settings); retrain.run.child_env drops both for its jobs


def system_malloc_command() -> list[str] | None:
    """The argv that starts this same ``factory-ai`` command again on the C library's malloc,
    or None when that is not wanted: the operator set ``PYTHONMALLOC`` (theirs wins, and it is
    what the started-again process sees, so this never loops), the C library is not glibc
    (nothing to trim), or this process is not the ``factory-ai`` command itself: started from
    the installed script or as ``python -m factory_ai``. A program that calls the CLI in-process
    (a test runner, or one that sets ``sys.argv`` itself to look like the command) must not be
    replaced, since its own code would never run again."""
    if _LIBC is None or "PYTHONMALLOC" in os.environ or not _is_glibc():
        return None
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    script = Path(sys.argv[0])
    if not (script.name == "factory-ai" and script.is_file()) and getattr(spec, "name", None) != "factory_ai.__main__":
        return None
    if not sys.executable:
        return None
    # The interpreter's own arguments as they were (the script path or ``-m factory_ai``, and
    # flags such as -I or -E), so the import path is the one the operator started.
    return [sys.executable, *sys.orig_argv[1:]]


def restart_on_system_malloc() -> None:
    """Replace this process with the same command on the C library's malloc (same PID, so
    systemd and Docker see no change), where :func:`system_malloc_command` says so. If the exec
    fails the daemon goes on with Python's allocator: memory would creep, nothing else."""
    command = system_malloc_command()
    if command is None:
        return
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    try:
        os.execve(sys.executable, command, {**os.environ, "PYTHONMALLOC": "malloc", RESTARTED: "1"})
    except OSError as exc:
        log.warning("could not start again on the C library's malloc (%s); going on with Python's allocator", exc)


def _is_glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") is not None
    except (ValueError, OSError, AttributeError):  # not a name this platform knows
        return False
