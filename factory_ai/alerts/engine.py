"""From findings to alerts: dedup, cooldown, auto-resolve, acknowledge, and the outbox.

Why an outbox table: a notification is written in the same transaction as the alert change
that causes it, so a crash, a dropped webhook server or a mail server that is down for a day
can delay a notification but never lose it. :func:`deliver` works the outbox off later.

Dedup: an alert is open (or acknowledged) per key; the same finding again raises its count and
last-seen time. Channels hear of it when it is raised, again when it is still there after the
cooldown (unless someone acknowledged it), and when it resolves.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from factory_ai.alerts.config import SEVERITY_RANK, AlertSettings
from factory_ai.alerts.rules import Finding
from factory_ai.errors import DataError
from factory_ai.store.assets import keys_by_id
from factory_ai.store.tables import Alert, Delivery
from factory_ai.store.types import ensure_utc

log = logging.getLogger(__name__)

ACTIVE = ("open", "acknowledged")


def apply(session: Session, settings: AlertSettings, findings: Iterable[Finding], judged: set[str],
          now: datetime) -> dict[str, int]:
    """Fold ``findings`` into the alerts table; resolve active alerts of the ``judged`` rules that
    were not found again. Returns how many alerts were raised, repeated and resolved."""
    findings = list({f.key: f for f in findings}.values())
    active = {a.key: a for a in session.exec(select(Alert).where(Alert.status.in_(ACTIVE))).all()}
    cooldown = timedelta(minutes=settings.cooldown_minutes)
    counts = {"raised": 0, "repeated": 0, "resolved": 0}
    for finding in findings:
        alert = active.get(finding.key)
        if alert is None:
            alert = Alert(key=finding.key, rule=finding.rule, severity=finding.severity, asset_id=finding.asset_id,
                          line=finding.line, message=finding.message, first_seen=now, last_seen=now, notified_at=now)
            session.add(alert)
            session.flush()
            _enqueue(session, settings, alert, "raised", now)
            counts["raised"] += 1
            continue
        alert.count += 1
        alert.last_seen, alert.message, alert.severity = now, finding.message, finding.severity
        if alert.status == "open" and now - ensure_utc(alert.notified_at or alert.first_seen) >= cooldown:
            alert.notified_at = now
            _enqueue(session, settings, alert, "repeated", now)
            counts["repeated"] += 1
    if settings.auto_resolve:
        seen = {f.key for f in findings}
        for key, alert in active.items():
            if alert.rule in judged and key not in seen:
                alert.status, alert.resolved_at = "resolved", now
                _enqueue(session, settings, alert, "resolved", now)
                counts["resolved"] += 1
    return counts


def acknowledge(session: Session, alert_id: int, by: str, now: datetime) -> Alert:
    """Someone is on it: no more repeats (it still counts, and still resolves)."""
    alert = _get(session, alert_id)
    if alert.status == "resolved":
        raise DataError(f"alert {alert_id} is already resolved")
    alert.status, alert.acknowledged_by, alert.acknowledged_at = "acknowledged", by, now
    return alert


def resolve(session: Session, alert_id: int, by: str, now: datetime, settings: AlertSettings) -> Alert:
    """Close an alert by hand; if the condition persists, the next evaluation raises a new one."""
    alert = _get(session, alert_id)
    if alert.status != "resolved":
        alert.status, alert.resolved_at = "resolved", now
        alert.acknowledged_by = alert.acknowledged_by or by
        _enqueue(session, settings, alert, "resolved", now)
    return alert


def listing(session: Session, *, status: str | None = None, open_only: bool = False,
            limit: int = 100) -> list[tuple[Alert, str | None]]:
    """The newest alerts with their asset's key, resolved ones last (the CLI and the API list these)."""
    query = select(Alert)
    if status:
        query = query.where(Alert.status == status)
    if open_only:
        query = query.where(Alert.status != "resolved")
    alerts = session.exec(query.order_by(Alert.id.desc()).limit(limit)).all()
    keys = keys_by_id(session, {a.asset_id for a in alerts if a.asset_id is not None})
    rows = [(a, keys.get(a.asset_id) if a.asset_id is not None else None) for a in alerts]
    return sorted(rows, key=lambda r: r[0].status == "resolved")


def describe(alert: Alert, asset: str | None) -> dict[str, Any]:
    """An alert as JSON-ready values, for people and programs reading the list."""
    return {"id": alert.id, "key": alert.key, "rule": alert.rule, "severity": alert.severity, "status": alert.status,
            "asset": asset, "line": alert.line, "message": alert.message, "count": alert.count,
            "first_seen": ensure_utc(alert.first_seen).isoformat(), "last_seen": ensure_utc(alert.last_seen).isoformat(),
            "acknowledged_by": alert.acknowledged_by}


def payload(alert: Alert, event: str, asset: str | None) -> dict[str, Any]:
    """What every channel sends: the alert as JSON-ready values, and what happened to it."""
    return {
        "event": event, "alert_id": alert.id, "key": alert.key, "rule": alert.rule, "severity": alert.severity,
        "status": alert.status, "asset": asset, "line": alert.line, "message": alert.message,
        "count": alert.count, "first_seen": ensure_utc(alert.first_seen).isoformat(),
        "last_seen": ensure_utc(alert.last_seen).isoformat(),
    }


def _enqueue(session: Session, settings: AlertSettings, alert: Alert, event: str, now: datetime) -> None:
    asset = keys_by_id(session, [alert.asset_id]).get(alert.asset_id) if alert.asset_id is not None else None
    body = payload(alert, event, asset)
    for channel in settings.channels:
        if channel.enabled and SEVERITY_RANK[alert.severity] >= SEVERITY_RANK[channel.min_severity]:
            session.add(Delivery(alert_id=alert.id, channel=channel.name, event=event, payload=body,
                                 created_at=now, next_attempt_at=now))


def _get(session: Session, alert_id: int) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise DataError(f"no alert {alert_id}")
    return alert
