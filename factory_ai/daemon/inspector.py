"""Live inspection: one image in, a verdict out to the reject gate, a row into the store.

Why this order: the reject gate (a PLC input, an MQTT subscriber) has a deadline measured in
milliseconds, so the verdict is published first; the inspection row goes to the result
writer, which stores it in the background (spooling it while the database is away).
A publisher that fails costs a log line, never the verdict.

A line may run several inspection models (``[inspect] models``: an anomaly detector and a
classifier, say). Each judges the image; ``vision.combine`` makes the one verdict the gate
gets (rejected if any rejects), and the row keeps every model's answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from factory_ai.daemon.metrics import Metrics
from factory_ai.daemon.recent import RecentInspections
from factory_ai.ingest.results import ResultWriter
from factory_ai.live_model import LiveModel
from factory_ai.store.records import inspection_row
from factory_ai.store.types import utcnow
from factory_ai.vision.archive import ImageArchive
from factory_ai.vision.combine import combine
from factory_ai.vision.inspect import InspectionModel, judge_bytes

log = logging.getLogger(__name__)

Publish = Callable[[dict[str, Any]], object]


class Inspector:
    def __init__(self, models: list[LiveModel[InspectionModel]], results: ResultWriter, metrics: Metrics, *,
                 max_pixels: int, publishers: list[Publish] | None = None, archive: ImageArchive | None = None,
                 keep: str = "review", recent: RecentInspections | None = None, line: str | None = None) -> None:
        self.models, self.results, self.metrics = models, results, metrics
        self.line = line  # the daemon's line, for images whose source names none
        self.recent = recent
        self.max_pixels = max_pixels
        self.archive, self.keep = archive, keep
        self.publishers: list[Publish] = list(publishers or [])
        self.judged = 0

    def inspect(self, data: bytes, source: str, line: str | None = None, *, via: str = "folder") -> dict[str, Any]:
        """Judge ``data``; return the verdict as published (``verdict == "error"`` when the
        image could not be judged, with the reason in ``error``). Raises only when no model
        can be loaded at all, so the caller keeps the image for later."""
        started = time.perf_counter()
        line = line or self.line
        every = [live.get() for live in self.models]
        answers = [(lo.ref.name, lo.ref.version, judge_bytes(data, source, lo.model, max_pixels=self.max_pixels))
                   for lo in every]
        result, decider = combine(answers)
        loaded = every[decider]  # the row and the published verdict name the model that decided
        ts = utcnow()
        verdict = {
            "ts": ts.isoformat(), "source": source, "line": line, "verdict": result.verdict, "label": result.label,
            "confidence": None if result.confidence is None else round(result.confidence, 6),
            "model": loaded.ref.name, "version": loaded.ref.version, "error": result.error,
        }
        if result.score is not None:
            verdict["score"] = round(result.score, 6)
        if result.answers is not None:
            verdict["answers"] = result.answers
        for publish in self.publishers:
            try:
                publish(verdict)
            except Exception as exc:  # noqa: BLE001 - a publisher's trouble must not cost the verdict
                log.warning("could not publish the verdict on %s: %s", Path(source).name, exc)
        elapsed = time.perf_counter() - started
        self.metrics.inspections.labels(result.verdict).inc()
        if result.latency_ms is not None:
            self.metrics.inference.observe(result.latency_ms / 1000)
        self.metrics.inspection.labels(via).observe(elapsed)
        row = inspection_row(result, loaded.ref.name, loaded.ref.version, loaded.model.provider,
                             source=source, line=line, ts=ts)
        if self.archive is not None and result.sha256 and (
                self.keep == "all" or (self.keep == "review" and result.verdict == "review")):
            try:
                row.image_path = str(self.archive.put(data, result.sha256))
            except OSError as exc:  # a full disk costs the kept copy, never the verdict or the row
                log.warning("could not keep %s for review: %s", Path(source).name, exc)
        self.results.put(row)
        self.judged += 1
        verdict["latency_ms"] = round(elapsed * 1000, 3)
        if self.recent is not None:  # the console's live view: after the gate and the row, never before
            self.recent.add(verdict, data, result.heatmap)
        return verdict

    def folder_judge(self, data: bytes, source: str, line: str | None) -> str:
        """The image-folder connector's hook: judge and return the verdict word."""
        return self.inspect(data, source, line, via="folder")["verdict"]
