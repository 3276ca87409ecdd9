"""What every running connector shares: a thread, a state for /health, counters for /metrics.

Why one base: the daemon starts, watches and stops connectors without knowing their protocol,
and a plant engineer reading /health sees the same fields for an OPC UA server as for a camera
folder: up or down, what it has received, what it refused, and the last error in words.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class ConnectorState:
    name: str
    kind: str
    up: bool = False
    received: int = 0  # readings or images taken in
    malformed: int = 0  # payloads, registers or images that could not be used (counted, logged, skipped)
    errors: int = 0  # connection or read failures
    last_error: str | None = None
    last_data: float | None = None  # wall-clock time of the last data
    detail: dict[str, Any] = field(default_factory=dict)
    # Detail that changes with every message (a protocol's per-peer state) is read when asked
    # for, not copied on every message. Its ``parts_down`` lists what behind a connected
    # connector is down (``{"what", "reason"}``), which the connector_down rule reports too.
    live: Callable[[], dict[str, Any]] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "up": self.up, "received": self.received, "malformed": self.malformed,
                "errors": self.errors, "last_error": self.last_error,
                "seconds_since_data": None if self.last_data is None else round(time.time() - self.last_data, 3),
                **self.detail, **(self.live() if self.live else {})}


class Connector:
    """A data source running in its own thread until :meth:`stop`.

    Subclasses implement :meth:`run` (loop until ``self.stopping`` is set) and may override
    :meth:`close` to release sockets. ``run`` must not raise for bad data; an exception that
    escapes anyway is logged, counted, and the connector restarted after a pause.
    """

    kind = "connector"

    def __init__(self, name: str) -> None:
        self.name = name
        self.state = ConnectorState(name=name, kind=self.kind)
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._malformed_logged = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._guarded, name=f"connector-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        try:
            self.close()
        except Exception as exc:  # noqa: BLE001 - shutting down: report, never raise
            log.warning("%s: error while closing: %s", self.name, exc)
        if self._thread is not None:
            self._thread.join(timeout)
        self.state.up = False

    def run(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        """Release connections so a blocked :meth:`run` returns promptly."""

    # -- helpers for subclasses -------------------------------------------------------------
    def malformed(self, what: str) -> None:
        """Count and log (rate-limited) one unusable payload, register or image."""
        self.state.malformed += 1
        if self.state.malformed <= 20 or self.state.malformed % 1000 == 0:
            log.warning("%s: %s (%d malformed so far)", self.name, what, self.state.malformed)

    def failed(self, what: str) -> None:
        """A connection or read failure: the connector is down until data flows again."""
        if self.state.up or self.state.last_error != what:
            log.error("%s: %s", self.name, what)
        self.state.up = False
        self.state.errors += 1
        self.state.last_error = what

    def data(self, count: int) -> None:
        self.state.received += count
        self.state.last_data = time.time()

    def _guarded(self) -> None:
        pause = 1.0
        while not self.stopping.is_set():
            try:
                self.run()
                return
            except Exception as exc:  # noqa: BLE001 - a connector must never take the daemon down
                log.exception("%s: connector crashed; restarting in %.0f s", self.name, pause)
                self.failed(f"crashed: {exc}")
                if self.stopping.wait(pause):
                    return
                pause = min(pause * 2, 30.0)
