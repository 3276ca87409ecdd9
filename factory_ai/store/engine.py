"""Engines for SQLite (embedded default) and PostgreSQL (plants beyond one machine).

Why the SQLite settings: the daemon writes readings while reports and the CLI read, so the
database runs in WAL mode (readers never block the writer), waits up to 30 s for a lock
instead of failing at once, and enforces foreign keys (SQLite does not by default).

Each pooled SQLite connection also keeps a page cache of up to 2 MB, filled by the first large
read it serves and then held for the life of the process. In a daemon that writes all the
time those pages are of little use (another connection's write empties a reader's cache at
its next transaction), but the memory stays: the hour-long soak saw RSS rise in steps of about
2 MB as one pooled connection after another served a large read. So a connection returned to
the pool frees its cache once a minute (``PRAGMA shrink_memory``), and the daemon's periodic
``malloc_trim`` hands the pages back.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url

from factory_ai.errors import StoreError

CONNECT_TIMEOUT = 10  # seconds for PostgreSQL to answer a new connection


def make_engine(url: str, echo: bool = False) -> Engine:
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            try:
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the folder for SQLite database {database}: {exc.strerror}") from exc
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "checkin", _sqlite_shrink)
        return engine
    kwargs.update(pool_pre_ping=True, pool_size=5, max_overflow=5)
    if "connect_timeout" not in parsed.query:
        # A database host that has gone silent (a dead switch, a paused VM) rather than refusing
        # connections would otherwise hold every thread that asks for a connection, /health's
        # included, for the operating system's TCP timeout of about two minutes.
        kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT}
    try:
        return create_engine(parsed, **kwargs)
    except ModuleNotFoundError as exc:
        raise StoreError(
            f"no database driver for {parsed.drivername} ({exc.name} is missing); "
            "for PostgreSQL: pip install 'factory-ai[postgres]'"
        ) from exc


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


SHRINK_SECONDS = 60.0  # how often a pooled SQLite connection frees its page cache (see above)


def _sqlite_shrink(dbapi_connection: Any, record: Any) -> None:
    if dbapi_connection is None:  # invalidated: nothing to free
        return
    now = time.monotonic()
    if now - record.info.get("shrunk_at", -SHRINK_SECONDS) < SHRINK_SECONDS:
        return
    record.info["shrunk_at"] = now
    try:
        dbapi_connection.execute("PRAGMA shrink_memory")
    except Exception:  # noqa: BLE001, S110 - freeing a cache is never worth failing a checkin for
        pass


def redact(url: str) -> str:
    """The URL without its password, for logs and messages."""
    return make_url(url).render_as_string(hide_password=True)
