"""Small write helpers shared by commands and services (one job each)."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import select

from factory_ai.errors import StoreError
from factory_ai.registry import card_digest
from factory_ai.store.database import Store
from factory_ai.store.tables import ModelVersion
from factory_ai.store.types import utcnow

log = logging.getLogger(__name__)


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
    """The id of each asset, by its key (``store.assets``), creating the assets that do not exist
    yet. A bare name that has just started to repeat on a second line is left out (logged):
    the rest of a scoring pass is kept, and the next pass names it by line."""
    from factory_ai.store.assets import resolve

    try:
        with store.session() as session:
            ids = resolve(session, names, create=True, ambiguous="skip")
            for name in dict.fromkeys(n for n in names if n not in ids):
                log.warning("results for asset %r not stored: that name is now on more than one line", name)
            return ids
    except SQLAlchemyError as exc:
        raise StoreError(f"could not look up assets in {store.where}: {exc}") from exc


def prediction_rows(store: Store, results: list, model_name: str, model_version: str, provider: str) -> list:  # noqa: ANN001
    """One :class:`~factory_ai.store.tables.Prediction` per forecast, errors included (a machine
    that could not be forecast shows up as such, not as silence); assets are created as needed."""
    from factory_ai.store.tables import Prediction

    ids = asset_ids(store, [r.asset for r in results])
    return [Prediction(asset_id=ids[r.asset], model_name=model_name, model_version=model_version, rul=r.rul,
                       rul_low=r.rul_low, rul_high=r.rul_high, risk=r.risk, horizon=r.horizon, provider=provider,
                       error=r.error) for r in results if r.asset in ids]


def record_predictions(store: Store, results: list, model_name: str, model_version: str, provider: str) -> int:  # noqa: ANN001
    """Store the forecasts now (the CLI); the daemon queues :func:`prediction_rows` instead."""
    rows = prediction_rows(store, results, model_name, model_version, provider)
    store.add_all(rows)
    return len(rows)


def inspection_row(result, model_name: str, model_version: str, provider: str, *, source: str,  # noqa: ANN001
                   line: str | None, ts: datetime | None = None, heatmap_path: Path | None = None):  # noqa: ANN201
    """The :class:`~factory_ai.store.tables.Inspection` for one judged image
    (a :class:`~factory_ai.vision.inspect.Result`), whether it came from a file, a camera or an upload."""
    from factory_ai.store.tables import Inspection

    return Inspection(
        ts=ts or utcnow(), source=source, line=line, image_sha256=result.sha256,
        model_name=model_name, model_version=model_version, label=result.label, confidence=result.confidence,
        verdict=result.verdict, scores=result.scores, score=result.score, answers=getattr(result, "answers", None),
        provider=provider, latency_ms=result.latency_ms,
        brightness=result.brightness, contrast=result.contrast,
        heatmap_path=None if heatmap_path is None else str(heatmap_path), error=result.error)
