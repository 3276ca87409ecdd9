"""What every sub-command shares: the loaded settings, the store, logging set-up."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from factory_ai.config import Settings
    from factory_ai.registry import Registry
    from factory_ai.store import Store


@dataclass
class State:
    config_path: str | None = None
    _settings: Settings | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from factory_ai.config import load_settings

            self._settings = load_settings(self.config_path)
        return self._settings

    def registry(self) -> Registry:
        from factory_ai.registry import Registry

        return Registry(self.settings.models_dir)

    def store(self) -> Store:
        from factory_ai.store import Store

        return Store(self.settings.database_url, echo=self.settings.store.echo)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    @property
    def stream(self):  # noqa: ANN201
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:  # noqa: ANN001
        pass


def setup_logging(verbosity: int) -> None:
    level = {-1: logging.WARNING, 0: logging.INFO, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s" if verbosity < 2 else
                                           "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("alembic", "torch", "matplotlib", "PIL", "onnxscript", "onnx_ir", "asyncua", "pymodbus", "watchdog",
                  "uvicorn", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING if verbosity < 2 else logging.INFO)


def record_model_version(state: State, ref, card, *, current: bool) -> None:  # noqa: ANN001
    """Mirror a registry change into the store; the registry folder stays authoritative, so a
    database that cannot be reached costs a warning, not the model."""
    from factory_ai.errors import StoreError
    from factory_ai.store.records import record_model_version as record

    try:
        store = state.store()
        try:
            record(store, ref.name, ref.version, ref.path, card, current=current)
        finally:
            store.close()
    except StoreError as exc:
        logging.getLogger(__name__).warning("model registered on disk, but not in the database: %s", exc)
