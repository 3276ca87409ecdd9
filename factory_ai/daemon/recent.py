"""The last inspections the daemon judged, in memory, for the console's live line view.

Why in memory: the daemon keeps only review images on disk by default, but an operator
watching the line wants to see every part that just went by, with its heatmap. A ring of the
last ``size`` images costs a few MB and nothing on the inspection's hot path (the heatmap
overlay is drawn when someone asks for it). Subscribers (the console's server-sent event
streams) are told of each new inspection through their own asyncio loop, so a slow browser
never holds up the line.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Entry:
    seq: int
    verdict: dict[str, Any]
    image: bytes
    heatmap: np.ndarray | None = field(default=None, repr=False)
    overlay_png: bytes | None = None


class RecentInspections:
    def __init__(self, size: int = 48) -> None:
        self.size = size
        self._entries: OrderedDict[int, Entry] = OrderedDict()
        self._seq = itertools.count(1)
        self._lock = threading.Lock()
        self._subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = set()

    def add(self, verdict: dict[str, Any], image: bytes, heatmap: np.ndarray | None) -> int:
        with self._lock:
            seq = next(self._seq)
            self._entries[seq] = Entry(seq, {**verdict, "seq": seq}, image, heatmap)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
            event = self._entries[seq].verdict
            subscribers = list(self._subscribers)
        for loop, queue in subscribers:
            try:
                loop.call_soon_threadsafe(_offer, queue, event)
            except RuntimeError:  # that loop has closed: its stream is gone
                self.unsubscribe(loop, queue)
        return seq

    def get(self, seq: int) -> Entry | None:
        with self._lock:
            return self._entries.get(seq)

    def latest(self, n: int) -> list[dict[str, Any]]:
        """The newest ``n`` verdicts, newest first."""
        with self._lock:
            return [e.verdict for e in reversed(self._entries.values())][:n]

    def find(self, source: str, ts: str) -> Entry | None:
        """The entry for a stored inspection, by its source and ISO time."""
        with self._lock:
            return next((e for e in reversed(self._entries.values())
                         if e.verdict["source"] == source and e.verdict["ts"] == ts), None)

    def overlay(self, entry: Entry) -> bytes | None:
        """The heatmap drawn over the image, as PNG (drawn once, on first request)."""
        if entry.overlay_png is None and entry.heatmap is not None:
            from PIL import Image

            from factory_ai.vision.heatmap import overlay

            try:
                with Image.open(io.BytesIO(entry.image)) as image:
                    out = io.BytesIO()
                    overlay(image, entry.heatmap).save(out, format="PNG")
            except (OSError, ValueError):
                return None
            entry.overlay_png = out.getvalue()
        return entry.overlay_png

    def subscribe(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue) -> None:
        with self._lock:
            self._subscribers.add((loop, queue))

    def unsubscribe(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue) -> None:
        with self._lock:
            self._subscribers.discard((loop, queue))


def _offer(queue: asyncio.Queue, event: dict[str, Any]) -> None:
    if queue.full():  # a browser that stopped reading loses the oldest update, not the daemon's time
        queue.get_nowait()
    queue.put_nowait(event)
