"""Small write helpers shared by commands and services (one job each)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import select

from factory_ai.errors import StoreError
from factory_ai.store.database import Store
from factory_ai.store.tables import ModelVersion
from factory_ai.store.types import utcnow


def record_model_version(store: Store, name: str, version: str, path: Path, card: dict[str, Any], *, current: bool) -> None:
    """Insert or refresh a model version; when ``current``, mark it the one in service."""
    try:
        with store.session() as session:
            rows = session.exec(select(ModelVersion).where(ModelVersion.name == name)).all()
            row = next((r for r in rows if r.version == version), None)
            if row is None:
                row = ModelVersion(name=name, version=version, family=card.get("family", "unknown"), path=str(path),
                                   sha256=card["artifacts"]["model.onnx"]["sha256"], metrics=card.get("metrics"))
                session.add(row)
            if current:
                for other in rows:
                    if other.status == "current" and other.version != version:
                        other.status = "registered"
                row.status = "current"
                row.promoted_at = utcnow()
    except SQLAlchemyError as exc:
        raise StoreError(f"could not record model {name} {version} in {store.where}: {exc}") from exc
