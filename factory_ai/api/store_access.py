"""Store access for HTTP handlers, with the store's failures turned into HTTP answers.

The API and the operator console both read and write through these two, so a database that
is away is a 503 and a bad id or label a 404/422 in both, worded the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import HTTPException
from sqlalchemy.exc import SQLAlchemyError

from factory_ai.errors import DataError, ModelError
from factory_ai.store.database import Store

T = TypeVar("T")


def read(store: Store, fn: Callable[..., T], *args: Any) -> T:  # noqa: ANN401
    """``fn(session, *args)`` in one session; 503 when the store is unavailable, and a question
    the data cannot answer as asked (a missing id: 404; a refused value, or an asset name on
    two lines: 422) is the caller's."""
    try:
        with store.session() as session:
            return fn(session, *args)
    except SQLAlchemyError as exc:
        raise HTTPException(503, f"the store is unavailable: {str(exc).splitlines()[0]}") from None
    except DataError as exc:
        raise HTTPException(404 if str(exc).startswith("no ") else 422, str(exc)) from None


def change(store: Store, fn: Callable[..., T], *args: Any) -> T:  # noqa: ANN401
    """A write: as :func:`read`, and a model's refusal (422) is the caller's too."""
    try:
        return read(store, fn, *args)
    except ModelError as exc:
        raise HTTPException(422, str(exc)) from None
