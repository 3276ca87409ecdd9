"""Failures and maintenance, as the plant records them: what remaining useful life counts to.

Why a record of its own: sensors show wear, but only a person (or the CMMS) knows that a pump
failed on Tuesday or had its bearings changed on Friday. Each such event ends the asset's run:
a failure gives every earlier reading of the run a known remaining life, a maintenance censors
it. Retraining the forecast (``retrain-forecast``) waits for new events, so recording them is
what keeps the model learning. Times are UTC; an event in the future is refused (a typo in the
year would otherwise end a run that has not ended).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from sqlmodel import Session, select

from factory_ai.errors import DataError
from factory_ai.store.assets import keys_by_id, resolve
from factory_ai.store.tables import Event
from factory_ai.store.types import utcnow

KINDS = ("failure", "maintenance")
# Clocks on plant PCs drift; a few minutes ahead of ours is not a typo.
FUTURE_SLACK = timedelta(minutes=10)


@dataclass(frozen=True)
class Recorded:
    event: Event
    asset: str
    created: bool  # False when the same asset, time and kind was already recorded


def parse_time(text: str | datetime | None) -> datetime:
    """ISO 8601 text (or a datetime) as an aware UTC datetime; none means now. Text without a
    zone is read as UTC, which is what the store keeps."""
    if text is None:
        return utcnow()
    if isinstance(text, datetime):
        value = text
    else:
        try:
            value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise DataError(f"time {text!r} is not ISO 8601 (e.g. 2026-11-20T14:30:00Z)") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def record(session: Session, asset: str, kind: str, ts: datetime | None = None, note: str | None = None) -> Recorded:
    """Add one event (the asset is created when new). Recording the same event twice is harmless."""
    kind = kind.strip().lower()
    if kind not in KINDS:
        raise DataError(f"event kind {kind!r}: use failure or maintenance")
    asset = asset.strip()
    if not asset:
        raise DataError("an event needs an asset name")
    when = parse_time(ts)
    if when > utcnow() + FUTURE_SLACK:
        raise DataError(f"event time {when.isoformat()} is in the future")
    asset_id = resolve(session, [asset], create=True)[asset]
    same = session.exec(select(Event).where(Event.asset_id == asset_id, Event.ts == when, Event.kind == kind)).first()
    if same is not None:
        return Recorded(same, asset, created=False)
    event = Event(asset_id=asset_id, ts=when, kind=kind, note=note or None)
    session.add(event)
    session.flush()
    return Recorded(event, asset, created=True)


def import_csv(session: Session, path: Path) -> dict[str, int]:
    """Record every row of a CSV with columns asset, time, kind (and optionally note); the whole
    file or nothing, so a bad row never leaves half an import behind."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: cannot read events ({exc})") from None
    missing = [c for c in ("asset", "time", "kind") if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: events need columns asset, time, kind; missing {', '.join(missing)}")
    counts = {"added": 0, "already_recorded": 0}
    for number, row in enumerate(frame.to_dict("records"), start=2):
        try:
            done = record(session, row["asset"], row["kind"], parse_time(row["time"]), row.get("note") or None)
        except DataError as exc:
            raise DataError(f"{path}, line {number}: {exc}") from None
        counts["added" if done.created else "already_recorded"] += 1
    return counts


def listing(session: Session, asset: str | None = None, limit: int = 100) -> list[tuple[Event, str]]:
    """Events, newest first, with their asset's key."""
    query = select(Event)
    if asset:
        found = resolve(session, [asset])
        if not found:
            return []
        query = query.where(Event.asset_id == found[asset])
    events = session.exec(query.order_by(Event.ts.desc(), Event.id.desc()).limit(limit)).all()
    keys = keys_by_id(session, {e.asset_id for e in events})
    return [(e, keys[e.asset_id]) for e in events]


def describe(event: Event, asset: str) -> dict[str, Any]:
    return {"id": event.id, "asset": asset, "ts": event.ts.isoformat(), "kind": event.kind, "note": event.note,
            "recorded_at": event.created_at.isoformat()}
