"""A model that follows the registry's CURRENT pointer while the daemon runs.

Why: promoting a model (``factory-ai models promote``, or the scheduler after a retrain)
must reach the line without a restart, and without failing one request. The new version is
loaded and checked *beside* the old one; only then is the reference swapped, in one
assignment. Calls already running finish on the old session, new calls get the new one, and
a version that fails to load leaves the old one serving (with an error in /health).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from factory_ai.registry import ModelRef, Registry

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Loaded(Generic[T]):
    ref: ModelRef
    model: T


class LiveModel(Generic[T]):
    def __init__(self, registry: Registry, name: str, load: Callable[[Path], T]) -> None:
        self.registry, self.name, self._load = registry, name, load
        self._current: Loaded[T] | None = None
        self._lock = threading.Lock()  # one reload at a time; readers never take it
        self.error: str | None = None
        self.reloads = 0

    def get(self) -> Loaded[T]:
        """The model serving now (loading it on first use); raises when none can be loaded."""
        current = self._current
        if current is None:
            self.check()
            current = self._current
            if current is None:
                raise RuntimeError(f"model {self.name!r} is not available: {self.error}")
        return current

    def check(self) -> bool:
        """Load the registry's current version if it is not the one serving; True if swapped."""
        with self._lock:
            try:
                ref = self.registry.resolve(self.name)
            except Exception as exc:  # noqa: BLE001 - no current version: keep serving what we have
                self._refused(exc)
                return False
            current = self._current
            if current is not None and current.ref == ref:
                return False
            try:
                model = self._load(ref.path)
            except Exception as exc:  # noqa: BLE001 - keep serving the old version; retried next check
                self._refused(exc)
                return False
            self._current, self.error = Loaded(ref, model), None
            if current is not None:
                self.reloads += 1
                log.info("model %s: now serving %s (was %s)", self.name, ref.version, current.ref.version)
            else:
                log.info("model %s: serving %s from %s", self.name, ref.version, ref.path)
            return True

    def _refused(self, exc: Exception) -> None:
        message = f"{type(exc).__name__}: {exc}"
        if message != self.error:
            log.error("model %s: cannot load the current version (%s)%s", self.name, message,
                      "; still serving " + self._current.ref.version if self._current else "")
        self.error = message

    def describe(self) -> dict[str, object]:
        current = self._current
        return {"name": self.name, "version": None if current is None else current.ref.version,
                "reloads": self.reloads, "error": self.error}
