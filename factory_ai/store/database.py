"""The store handle every command and service opens: one engine, checked schema, sessions."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, SQLModel

from factory_ai.errors import StoreError
from factory_ai.store.engine import make_engine, redact
from factory_ai.store.schema import ensure_schema


class Store:
    """A database with factory-ai's schema.

    Opening checks (or, for an empty database, creates) the schema once, so later writes fail
    only for real reasons: a dropped connection, a full disk, a constraint.
    """

    def __init__(self, url: str, *, echo: bool = False, check_schema: bool = True) -> None:
        self.url = url
        self.engine: Engine = make_engine(url, echo=echo)
        if check_schema:
            ensure_schema(self.engine)

    @property
    def where(self) -> str:
        """The URL without its password."""
        return redact(self.url)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def add_all(self, rows: Iterable[SQLModel]) -> None:
        """Insert rows in one transaction; raise :class:`StoreError` if the database refuses."""
        try:
            with self.session() as session:
                session.add_all(list(rows))
        except SQLAlchemyError as exc:
            raise StoreError(f"could not write to {self.where}: {str(getattr(exc, 'orig', exc)).strip()}") from exc

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
