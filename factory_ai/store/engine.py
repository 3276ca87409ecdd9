"""Engines for SQLite (embedded default) and PostgreSQL (plants beyond one machine).

Why the SQLite settings: the daemon writes readings while reports and the CLI read, so the
database runs in WAL mode (readers never block the writer), waits up to 30 s for a lock
instead of failing at once, and enforces foreign keys (SQLite does not by default).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url

from factory_ai.errors import StoreError


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
        return engine
    kwargs.update(pool_pre_ping=True, pool_size=5, max_overflow=5)
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


def redact(url: str) -> str:
    """The URL without its password, for logs and messages."""
    return make_url(url).render_as_string(hide_password=True)
