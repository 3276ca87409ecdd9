"""What the HTTP surface (API and console) may use of the running plant: a narrow interface.

Why not the daemon itself: the daemon builds the API, so an API that imported the daemon would
close an import circle, and every internal of the daemon would be reachable from a request
handler. The daemon hands ``create_app`` an object with exactly these members instead (it is
one itself), and tests can hand a smaller one.
"""

from __future__ import annotations

from typing import Any, Protocol


class Plant(Protocol):
    settings: Any  # factory_ai.config.Settings
    store: Any  # factory_ai.store.database.Store
    registry: Any  # factory_ai.registry.Registry
    recent: Any  # factory_ai.daemon.recent.RecentInspections: the live view's last parts

    def health(self) -> dict[str, Any]:
        """The /health report."""
        ...

    def metrics_text(self) -> bytes:
        """Prometheus exposition text."""
        ...

    def inspect(self, data: bytes, source: str, line: str | None, *, via: str) -> dict[str, Any]:
        """Judge one image as the line does; raises RuntimeError when no model can be loaded."""
        ...

    def flush_results(self, timeout: float) -> None:
        """Wait (at most ``timeout`` seconds) until judged parts are in the store."""
        ...
