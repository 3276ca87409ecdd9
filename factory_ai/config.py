"""The plant config: ``factory.toml`` plus environment overrides, validated, with defaults.

Why this shape: a plant PC is set up once by an automation engineer and then runs unattended,
so a typo in a key must fail loudly (naming the file and the key) rather than be ignored, and
with no file at all everything must still work (SQLite in ``./var``, models in ``./models``).

Where the config comes from, first match wins:
1. ``--config PATH`` on the command line;
2. the ``FACTORY_AI_CONFIG`` environment variable;
3. ``factory.toml`` in the current directory;
4. nothing: built-in defaults.

Any key can then be overridden from the environment as ``FACTORY_AI_<SECTION>__<KEY>``, for
example ``FACTORY_AI_STORE__URL=postgresql+psycopg://plant@db/factory``. Relative paths are
taken relative to the config file's folder (or the current directory without a file).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from factory_ai.alerts.config import AlertSettings
from factory_ai.console.config import ConsoleSettings
from factory_ai.drift.config import DriftSettings
from factory_ai.errors import ConfigError
from factory_ai.reports.config import ReportSettings
from factory_ai.retrain.config import RetrainSettings
from factory_ai.scheduler.config import SchedulerSettings

ENV_PREFIX = "FACTORY_AI_"
ENV_CONFIG = "FACTORY_AI_CONFIG"
DEFAULT_FILE = "factory.toml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class StoreSettings(_Section):
    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL. Default: SQLite at var/factory.db. "
        "PostgreSQL: postgresql+psycopg://user:password@host/dbname",
    )
    echo: bool = Field(default=False, description="Log every SQL statement (debugging only).")


class ModelsSettings(_Section):
    dir: Path = Field(default=Path("models"), description="The model registry folder.")
    source: str | None = Field(
        default=None, description="The plant's central registry, a folder or a central daemon's URL: a line daemon "
        "pulls the current versions of the models it uses from there (sha256-checked) before loading them.")
    sync_seconds: float = Field(default=60.0, gt=0, description="How often a line daemon asks the source.")


class RuntimeSettings(_Section):
    threads: int = Field(
        default=0, ge=0, description="onnxruntime intra-op threads; 0 uses every core of this machine."
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto", description="auto uses CUDA when onnxruntime-gpu and a GPU are present."
    )


class InspectSettings(_Section):
    model: str = Field(default="demo-surface", description="Registry name (or folder) of the vision model.")
    models: list[str] = Field(
        default_factory=list, description="Several inspection models on one line, e.g. [\"surface-anomaly\", "
        "\"surface-classes\"]: a part is rejected if any model rejects it, and the stored inspection keeps every "
        "model's answer. Empty: the one model above.")
    batch: int = Field(default=16, ge=1, le=1024)
    max_pixels: int = Field(
        default=40_000_000, ge=1, description="Larger images are refused (decompression-bomb guard)."
    )

    @property
    def names(self) -> list[str]:
        """The inspection models in use, in order: ``models``, else ``model`` alone."""
        return list(self.models) or [self.model]


class VisionSettings(_Section):
    """The gate every vision model passes before service (first version, --promote, retraining)."""

    max_false_reject: float = Field(
        default=0.10, ge=0, le=1, description="Most good parts a model may reject on its test split (0.10 = 10 %).")
    max_escape: float = Field(
        default=0.20, ge=0, le=1, description="Most defective parts a model may pass on its test split.")
    gate_margin: float = Field(
        default=0.25, ge=0, lt=1, description="Balanced accuracy and macro-F1 must cover this share of the way from "
        "always answering the commonest class to perfect.")


class DaemonSettings(_Section):
    line: str | None = Field(
        default=None, max_length=100, description="This daemon's production line: stamped on the assets it creates and "
        "on inspections whose connector or upload names none (several line daemons can share one PostgreSQL).")
    connectors: list[Path] = Field(
        default_factory=list, description="Connector files to load. Empty: every *.toml in connectors_dir."
    )
    connectors_dir: Path = Field(default=Path("connectors"), description="Folder of connector instance files.")
    spool_dir: Path = Field(
        default=Path("var/spool"), description="Where readings and results wait on disk while the database is away."
    )
    forecast_model: str | None = Field(
        default=None, description="Registry name of the forecast model to score assets with; unset: no scoring."
    )
    health_model: str | None = Field(
        default=None, description="Registry name of the machine-health model to score assets with (beside the "
        "forecast); unset: no health scores."
    )
    forecast_interval_seconds: float = Field(default=60.0, gt=0, description="How often every asset is scored.")
    forecast_lookback_hours: float = Field(
        default=720.0, gt=0, description="Readings this far back are read for scoring (the run's age counts from there)."
    )
    reload_check_seconds: float = Field(
        default=5.0, gt=0, description="How often the registry's CURRENT pointers are checked for a new model."
    )
    inspect_int8: bool = Field(default=False, description="Judge with the vision model's int8 artifact.")
    keep_images: Literal["none", "review", "all"] = Field(
        default="review", description="Which judged images are kept in images_dir for review and retraining."
    )
    images_dir: Path = Field(default=Path("var/images"), description="Where kept images go (named by sha256).")
    reject_verdicts: list[str] = Field(
        default_factory=lambda: ["reject"], description="Verdicts that set the reject bit on OPC UA reject nodes."
    )


class ApiSettings(_Section):
    enabled: bool = True
    host: str = Field(default="127.0.0.1", description="Listen address; 0.0.0.0 exposes the API to the network.")
    port: int = Field(default=8080, ge=0, le=65535, description="0 picks a free port (tests).")
    token: str | None = Field(
        default=None, description="Bearer token for write endpoints (POST /api/v1/inspect); unset: writes refused."
    )


class Settings(_Section):
    store: StoreSettings = Field(default_factory=StoreSettings)
    models: ModelsSettings = Field(default_factory=ModelsSettings)
    runtime: RuntimeSettings = Field(default_factory=RuntimeSettings)
    inspect: InspectSettings = Field(default_factory=InspectSettings)
    vision: VisionSettings = Field(default_factory=VisionSettings)
    daemon: DaemonSettings = Field(default_factory=DaemonSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    drift: DriftSettings = Field(default_factory=DriftSettings)
    retrain: RetrainSettings = Field(default_factory=RetrainSettings)
    reports: ReportSettings = Field(default_factory=ReportSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)

    # Not config keys: where the settings came from, for messages and relative paths.
    _source: Path | None = PrivateAttr(default=None)
    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    @property
    def source(self) -> Path | None:
        """The config file these settings were read from, or None for built-in defaults."""
        return self._source

    @property
    def base_dir(self) -> Path:
        return self._base_dir

    @property
    def database_url(self) -> str:
        """The store URL, with SQLite's relative file paths anchored at ``base_dir``."""
        url = self.store.url
        if url is None:
            return f"sqlite:///{self.base_dir / 'var' / 'factory.db'}"
        prefix = "sqlite:///"
        if url.startswith(prefix) and url != "sqlite://" and ":memory:" not in url:
            path = Path(url[len(prefix):])
            if not path.is_absolute():
                return f"{prefix}{self.base_dir / path}"
        return url

    @property
    def models_dir(self) -> Path:
        return self.resolve(self.models.dir)

    def resolve(self, path: Path) -> Path:
        return path if path.is_absolute() else self.base_dir / path


def read_toml(path: Path, what: str = "") -> dict[str, Any]:
    """A TOML file as a dict; :class:`ConfigError` naming the file when it is unreadable or invalid."""
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read{' ' + what if what else ''} ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


def load_settings(path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read, merge and validate the config; raise :class:`ConfigError` naming file and key."""
    env = os.environ if environ is None else environ
    source = _find_file(path, env)
    data: dict[str, Any] = {}
    if source is not None:
        data = read_toml(source, "config")
    overrides = _env_overrides(env)
    for section, values in overrides.items():
        current = data.setdefault(section, {})
        if not isinstance(current, dict):
            raise ConfigError(f"{source}: [{section}] must be a table")
        current.update(values)
    base_dir = source.parent.resolve() if source is not None else Path.cwd()
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source, overrides)) from None
    settings._source = source
    settings._base_dir = base_dir
    return settings


def _find_file(path: str | os.PathLike[str] | None, env: Mapping[str, str]) -> Path | None:
    if path is not None:
        candidate, how = Path(path), "--config"
    elif env.get(ENV_CONFIG):
        candidate, how = Path(env[ENV_CONFIG]), ENV_CONFIG
    else:
        default = Path(DEFAULT_FILE)
        return default.resolve() if default.is_file() else None
    if not candidate.is_file():
        raise ConfigError(f"{candidate}: config file not found (given by {how})")
    return candidate.resolve()


def _env_overrides(env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    overrides: dict[str, dict[str, str]] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_CONFIG:
            continue
        section, sep, key = name[len(ENV_PREFIX):].lower().partition("__")
        if not sep or not section or not key:
            raise ConfigError(f"environment variable {name}: expected {ENV_PREFIX}<SECTION>__<KEY>")
        overrides.setdefault(section, {})[key] = value
    return overrides


def _describe(exc: ValidationError, source: Path | None, overrides: Mapping[str, Mapping[str, str]]) -> str:
    lines = []
    for err in exc.errors():
        loc = [str(part) for part in err["loc"]]
        section, key = (loc + ["", ""])[:2]
        if key and key in overrides.get(section, {}):
            where = f"environment variable {ENV_PREFIX}{section.upper()}__{key.upper()}"
        else:
            where = str(source) if source is not None else "config"
        what = f"[{section}] {'.'.join(loc[1:])}" if len(loc) > 1 else f"[{section}]"
        message = "unknown key (check the spelling)" if err["type"] == "extra_forbidden" else err["msg"]
        lines.append(f"{where}: {what}: {message}")
    return "; ".join(lines)
