"""Schema versions: create a fresh database, upgrade an old one, refuse a newer one.

Why Alembic: a plant database outlives many releases of factory-ai. Each schema change is a
migration script in ``migrations/versions``; ``factory-ai db upgrade`` applies them. A fresh,
empty database is created automatically (zero set-up for SQLite), but an existing one is never
changed behind the operator's back: an old schema asks for ``db upgrade`` (after a backup).

Checking the revision reads one row and needs no Alembic import, which keeps the line-side
cold start short; Alembic is only loaded when something must change.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from factory_ai.errors import StoreError, first_line

log = logging.getLogger(__name__)

#: The newest migration. A test checks it equals Alembic's head.
HEAD = "0006"
MIGRATIONS = Path(__file__).with_name("migrations")


def current_revision(conn: Connection) -> str | None:
    """The database's schema revision, or None when it has never been initialised."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (creates every table on an empty database)."""
    from alembic import command

    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), revision)


def ensure_schema(engine: Engine) -> None:
    """Make a usable database: create it if empty, else insist it is at :data:`HEAD`."""
    where = engine.url.render_as_string(hide_password=True)
    try:
        with engine.connect() as conn:
            found = current_revision(conn)
            has_tables = bool(inspect(conn).get_table_names())
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot open the database {where}: {first_line(exc)}") from exc
    if found == HEAD:
        return
    if found is None and not has_tables:
        log.info("creating the factory-ai schema in %s", where)
        upgrade(engine)
        return
    if found is None:
        raise StoreError(
            f"{where} holds tables that factory-ai did not create; point store.url at an empty database"
        )
    if found not in _known_revisions():
        raise StoreError(f"{where} is at schema {found}, newer than this factory-ai ({HEAD}); upgrade factory-ai")
    raise StoreError(f"{where} is at schema {found}; run `factory-ai db upgrade` (back it up first)")


def _known_revisions() -> set[str]:
    return {p.name.split("_", 1)[0] for p in (MIGRATIONS / "versions").glob("*.py")}


def _alembic_config(conn: Connection):  # -> alembic.config.Config (imported lazily)
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    return config
