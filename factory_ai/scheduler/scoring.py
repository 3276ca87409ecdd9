"""Asset scoring on an interval: every asset's latest history through a "score" family's model.

Why read from the store, not from the connectors' stream: the store is the one place where
readings from every source meet, in time order and without duplicates, and scoring what is
stored means a result can always be reproduced from the data behind it. Only the last
``lookback`` of readings is read, so a year of history does not slow every run.

What scoring means is the family's (``Family.score``): the failure forecast turns each asset's
window into remaining life and risk; other families score differently. This class only runs it
on the live model, queues the rows and counts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from factory_ai.family import Family
from factory_ai.ingest.results import ResultWriter
from factory_ai.live_model import LiveModel
from factory_ai.store.database import Store

log = logging.getLogger(__name__)


class Scorer:
    def __init__(self, family: Family, model: LiveModel[Any], store: Store, results: ResultWriter, *,
                 lookback_hours: float, counted: Callable[[bool], None] | None = None) -> None:
        self.family, self.model, self.store, self.results = family, model, store, results
        self.counted = counted or (lambda ok: None)  # told of every asset scored: ok, or with an error
        self.lookback = timedelta(hours=lookback_hours)
        self.runs = 0
        self.last_error: str | None = None
        self.state: dict[str, Any] = {}  # the family's own memory between runs (what it already warned about)

    def score(self) -> list[Any]:
        """One pass over every asset with readings; returns the results (stored as well)."""
        loaded = self.model.get()
        scored = self.family.score(loaded.model, loaded.ref, self.store, since=datetime.now(UTC) - self.lookback,
                                   state=self.state)
        if scored.note:
            self.last_error = scored.note
            return []
        for row in scored.rows:
            self.results.put(row)
        for r in scored.results:
            self.counted(not r.error)
        self.runs += 1
        self.last_error = None
        errors = sum(1 for r in scored.results if r.error)
        log.info("%s: %d assets scored with %s %s (%d with errors)", self.family.title, len(scored.results),
                 loaded.ref.name, loaded.ref.version, errors)
        return scored.results
