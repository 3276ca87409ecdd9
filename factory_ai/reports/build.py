"""Gather a report from the store: one read-only session, every section's numbers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from factory_ai.reports import maintenance, quality
from factory_ai.reports.scope import Scope
from factory_ai.store.types import utcnow


@dataclass
class Report:
    scope: Scope
    generated_at: datetime
    source: str
    maintenance: maintenance.Maintenance
    quality: quality.Quality


def build(store, scope: Scope, *, risk_alarm: float = maintenance.RISK_ALARM,  # noqa: ANN001
          machine_class: tuple[str, str] = maintenance.MACHINE_CLASS, asset_pages: int | None = None) -> Report:
    """``asset_pages``: how many assets, worst-ranked first, get a section of charts (None: all)."""
    detail = slice(0, asset_pages) if asset_pages is not None else None
    with store.session() as session:
        plant = maintenance.gather(session, scope, risk_alarm, machine_class=machine_class, detail=detail)
        checks = quality.gather(session, scope)
    return Report(scope, utcnow(), store.where, plant, checks)
