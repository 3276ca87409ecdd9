"""Small write helpers shared by commands and services (one job each)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import select

from factory_ai.errors import StoreError
from factory_ai.registry import card_digest
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
                                   sha256=card_digest(card), metrics=card.get("metrics"))
                session.add(row)
            if current:
                for other in rows:
                    if other.status == "current" and other.version != version:
                        other.status = "registered"
                row.status = "current"
                row.promoted_at = utcnow()
    except SQLAlchemyError as exc:
        raise StoreError(f"could not record model {name} {version} in {store.where}: {exc}") from exc


def asset_ids(store: Store, names: list[str]) -> dict[str, int]:
    """The id of each named asset, creating the assets that do not exist yet."""
    from factory_ai.store.tables import Asset

    wanted = list(dict.fromkeys(names))
    try:
        with store.session() as session:
            found = {a.name: a for a in session.exec(select(Asset).where(Asset.name.in_(wanted))).all()}
            for name in wanted:
                if name not in found:
                    found[name] = Asset(name=name)
                    session.add(found[name])
            session.flush()
            return {name: int(found[name].id) for name in wanted}
    except SQLAlchemyError as exc:
        raise StoreError(f"could not look up assets in {store.where}: {exc}") from exc


def record_predictions(store: Store, results: list, model_name: str, model_version: str, provider: str) -> int:  # noqa: ANN001
    """Store one :class:`~factory_ai.store.tables.Prediction` per forecast (errors included, so
    a machine that could not be forecast shows up as such, not as silence)."""
    from factory_ai.store.tables import Prediction

    ids = asset_ids(store, [r.asset for r in results])
    rows = [Prediction(asset_id=ids[r.asset], model_name=model_name, model_version=model_version, rul=r.rul,
                       rul_low=r.rul_low, rul_high=r.rul_high, risk=r.risk, horizon=r.horizon, provider=provider,
                       error=r.error) for r in results]
    store.add_all(rows)
    return len(rows)
