"""Alerts: rules over the store raise them, the engine dedups them, channels deliver them.

``check`` is the scheduler's alert job in one call: evaluate the rules, fold the findings
into the alerts table (writing the outbox in the same transaction), then work off the outbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from factory_ai.alerts import engine
from factory_ai.alerts.channels import Publish, senders
from factory_ai.alerts.config import AlertSettings
from factory_ai.alerts.outbox import deliver
from factory_ai.alerts.rules import Context, Finding, evaluate
from factory_ai.store.database import Store
from factory_ai.store.types import utcnow

__all__ = ["AlertSettings", "Finding", "check", "flush", "record"]


def check(store: Store, settings: AlertSettings, *, connectors: Mapping[str, Any] | None = None,
          publishers: Mapping[str, Publish] | None = None, now: datetime | None = None) -> dict[str, int]:
    """Evaluate every rule, update the alerts, deliver what is due; returns the counts.
    ``connectors`` are the daemon's connector states, ``publishers`` its connectors that publish alerts."""
    now = now or utcnow()
    with store.session() as session:
        findings, judged = evaluate(settings.rules, Context(session, now, connectors))
        counts = engine.apply(session, settings, findings, judged, now)
    return {"findings": len(findings), **counts, **flush(store, settings, now=now, publishers=publishers)}


def record(store: Store, settings: AlertSettings, findings: list[Finding], judged: set[str], *,
           now: datetime | None = None, publishers: Mapping[str, Publish] | None = None) -> dict[str, int]:
    """Raise (or resolve) alerts found outside the rules, such as drift; then deliver."""
    now = now or utcnow()
    with store.session() as session:
        counts = engine.apply(session, settings, findings, judged, now)
    return {**counts, **flush(store, settings, now=now, publishers=publishers)}


def flush(store: Store, settings: AlertSettings, *, now: datetime | None = None,
          publishers: Mapping[str, Publish] | None = None) -> dict[str, int]:
    """Send the outbox's due deliveries."""
    return deliver(store, senders(settings.channels, publishers), now or utcnow(),
                   retry_max=timedelta(minutes=settings.retry_max_minutes))
