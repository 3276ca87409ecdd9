"""Working off the outbox: send what is due, retry what failed with a growing wait.

Why nothing is ever dropped: a delivery stays ``pending`` until its channel took it. The wait
between attempts doubles from 10 s up to ``retry_max_minutes``, so a mail server that is down
for the weekend is asked a few times an hour, and everything arrives, in order, once it is back.
A channel that fails once is left alone for the rest of the pass (one timeout, not hundreds).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import select

from factory_ai.store.database import Store
from factory_ai.store.tables import Delivery

log = logging.getLogger(__name__)

FIRST_RETRY = timedelta(seconds=10)

Send = Callable[[Mapping[str, Any], int], None]  # (payload, delivery id) -> raises on failure


def deliver(store: Store, senders: Mapping[str, Send], now: datetime, *, retry_max: timedelta,
            limit: int = 500) -> dict[str, int]:
    """One pass over the due deliveries; returns how many were sent, failed, and are still waiting."""
    with store.session() as session:
        due = session.exec(select(Delivery).where(Delivery.status == "pending", Delivery.next_attempt_at <= now)
                           .order_by(Delivery.id).limit(limit)).all()
    sent = failed = 0
    down: set[str] = set()
    for delivery in due:
        sender = senders.get(delivery.channel)
        if sender is None or delivery.channel in down:
            continue  # a channel removed from the config keeps its deliveries until it returns
        error = None
        try:
            sender(delivery.payload, delivery.id)
        except Exception as exc:  # noqa: BLE001 - any failure means: try again later
            error = f"{type(exc).__name__}: {exc}"
        with store.session() as session:
            row = session.get(Delivery, delivery.id)
            row.attempts += 1
            if error is None:
                row.status, row.sent_at, row.last_error = "sent", now, None
                sent += 1
            else:
                wait = min(retry_max, FIRST_RETRY * 2 ** (row.attempts - 1))
                row.next_attempt_at, row.last_error = now + wait, error
                down.add(delivery.channel)
                failed += 1
                log.warning("alert channel %s failed (attempt %d, next in %.0f s): %s", delivery.channel,
                            row.attempts, wait.total_seconds(), error)
    with store.session() as session:
        waiting = session.exec(select(func.count()).select_from(Delivery).where(Delivery.status == "pending")).one()
    return {"sent": sent, "failed": failed, "waiting": waiting}
