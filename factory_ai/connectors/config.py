"""Connector instance files: ``connectors/<name>.toml``, one data source each.

Every file has a ``kind`` and the keys of that kind; nothing else is accepted, so a
misspelled key is an error that names the file and the key, not a silently ignored setting.
The file's name (without ``.toml``) is the connector's name unless ``name`` says otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from factory_ai.config import read_toml
from factory_ai.errors import ConfigError


class _Connector(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = ""
    enabled: bool = True


class CsvReplay(_Connector):
    """Replays sensor history (CSV or Parquet, wide or long) as if it were arriving live."""

    kind: Literal["csv-replay"]
    path: Path
    format: Literal["auto", "csv", "parquet", "cmapss", "femto"] = "auto"
    asset_column: str = "asset"
    time_column: str = "time"
    speed: float = Field(default=60.0, gt=0, description="Data seconds per wall-clock second (0 < speed).")
    restamp: bool = Field(default=True, description="Shift timestamps so the replay starts now.")
    catch_up_hours: float | None = Field(
        default=None, gt=0, description="Start the replay's clock this many hours before now and replay at `speed` "
        "until it reaches the present, then in real time, so nothing is stamped in the future.")
    loop: bool = False
    units: dict[str, str] = Field(default_factory=dict)
    cycle_seconds: float = Field(default=1.0, gt=0, description="Seconds per cycle for cycle-numbered data.")


class ImageFolder(_Connector):
    kind: Literal["image-folder"]
    path: Path
    patterns: list[str] = Field(default_factory=lambda: ["*.png", "*.jpg", "*.jpeg", "*.bmp", "*.tif", "*.tiff"])
    processed: Path | None = None
    failed: Path | None = None
    settle_seconds: float = Field(default=0.5, ge=0)
    line: str | None = None
    model: str | None = None


class _Waveform(BaseModel):
    """Keys of a value that may be an accelerometer's waveform snapshot (MQTT field, OPC UA node)."""

    model_config = ConfigDict(extra="forbid")
    mode: Literal["value", "accelerometer"] = Field(
        default="value", description="value: one number. accelerometer: a waveform snapshot (a list or array of "
        "samples), stored as vibration features <sensor>_rms, _peak, _crest, _kurtosis, _band_<lo>_<hi>, _vel_rms "
        "(mm/s) and, with fault_hz, _env_<name>.")
    rate_hz: float | None = Field(default=None, gt=0, description="Accelerometer sample rate (mode accelerometer).")
    samples_unit: Literal["g", "m/s2"] = Field(default="g", description="Unit of the accelerometer samples.")
    fault_hz: dict[str, float] = Field(default_factory=dict, description="Bearing fault frequencies to read in the "
                                       "envelope spectrum, e.g. {bpfo = 107.4, bpfi = 162.6} "
                                       "(factory_ai.history.vibration.bearing_frequencies computes them).")

    def _where(self) -> str:
        raise NotImplementedError  # each kind of map names its own value

    @model_validator(mode="after")
    def _rate_for_waveforms(self) -> _Waveform:
        if self.mode == "accelerometer" and self.rate_hz is None:
            raise ValueError(f"{self._where()}: mode accelerometer needs rate_hz")
        return self


class NodeMap(_Waveform):
    node: str
    asset: str
    sensor: str
    unit: str | None = None

    def _where(self) -> str:
        return f"node {self.node!r}"


class OpcUa(_Connector):
    kind: Literal["opcua"]
    endpoint: str
    nodes: list[NodeMap]
    security_policy: Literal["None", "Basic256Sha256", "Aes128Sha256RsaOaep", "Aes256Sha256RsaPss"] = "None"
    security_mode: Literal["None", "Sign", "SignAndEncrypt"] = "None"
    username: str | None = None
    password: str | None = None
    certificate: Path | None = None
    private_key: Path | None = None
    trust: Path | Literal["any"] | None = Field(
        default=None, description="With a security policy: a folder of trusted server (or CA) certificates, PEM or "
        "DER; a server whose certificate is not there, or is expired, is refused. \"any\" accepts any server "
        "(a man in the middle too) and says so in /health.")
    reject_node: str | None = None
    publishing_interval_ms: int = Field(default=500, ge=10)
    reconnect_max_seconds: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _security(self) -> OpcUa:
        if self.security_policy != "None":
            if self.certificate is None or self.private_key is None:
                raise ValueError(f"security_policy {self.security_policy} needs certificate and private_key")
            if self.security_mode == "None":
                raise ValueError(f"security_policy {self.security_policy} needs security_mode Sign or SignAndEncrypt")
            if self.trust is None:
                raise ValueError(f"security_policy {self.security_policy} needs trust: a folder of the server "
                                 "certificates to trust (or trust = \"any\", which accepts any server)")
        elif self.security_mode != "None":
            raise ValueError("security_mode Sign/SignAndEncrypt needs a security_policy (e.g. Basic256Sha256)")
        return self


class FieldMap(_Waveform):
    field: str = Field(description="Dotted path into the JSON payload, e.g. data.vibration.rms")
    sensor: str
    unit: str | None = None

    def _where(self) -> str:
        return f"field {self.field!r}"


class Mqtt(_Connector):
    """JSON messages (``payload = "json"``) or Sparkplug B (``payload = "sparkplug_b"``).

    With Sparkplug B the asset is the device (or, for node metrics, the edge node), every numeric
    metric is a sensor named after the metric (``/`` written as ``.``) unless ``fields`` lists the
    metrics to take (``field`` = the metric's name), and ``topics`` defaults to ``spBv1.0/#``.
    """

    kind: Literal["mqtt"]
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    payload: Literal["json", "sparkplug_b"] = "json"
    topics: list[str] = Field(default_factory=list)
    asset_from_topic: int = Field(default=-2, description="Which topic level names the asset (negative from the end); "
                                  "JSON only.")
    fields: list[FieldMap] = Field(default_factory=list)
    timestamp_field: str | None = None
    qos: Literal[0, 1, 2] = 1
    client_id: str | None = None
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: Path | None = None
    verdict_topic: str | None = None
    alert_topic: str | None = None
    group: str | None = Field(default=None, description="Sparkplug B: the group of the daemon's own edge node, which "
                              "publishes verdicts (a device per line) and alerts (device 'alerts'); with edge_node.")
    edge_node: str | None = Field(default=None, description="Sparkplug B: the daemon's own edge node id; with group.")
    rebirth_requests: bool = Field(default=True, description="Sparkplug B: ask an edge node to rebirth (NCMD) after a "
                                   "seq gap or data with an alias no birth declared.")

    @model_validator(mode="after")
    def _payload_keys(self) -> Mqtt:
        if self.payload == "json":
            if not self.topics or not self.fields:
                raise ValueError("payload json needs topics and fields")
            if self.group or self.edge_node:
                raise ValueError("group and edge_node are for payload = \"sparkplug_b\"")
            return self
        if not self.topics:
            self.topics = ["spBv1.0/#"]
        if (self.group is None) != (self.edge_node is None):
            raise ValueError("give both group and edge_node (the daemon's own Sparkplug B edge node), or neither")
        for value in (self.group, self.edge_node):
            if value is not None and (not value or any(c in value for c in "/+#")):
                raise ValueError(f"{value!r}: a Sparkplug B id must be non-empty and free of '/', '+' and '#'")
        if self.verdict_topic or self.alert_topic:
            raise ValueError("with sparkplug_b, verdicts and alerts go out on the daemon's own edge node: set group "
                             "and edge_node instead of verdict_topic/alert_topic")
        return self


class Register(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address: int = Field(ge=0, le=65535)
    table: Literal["holding", "input"] = "holding"
    type: Literal["int16", "uint16", "int32", "uint32", "float32"] = "uint16"
    word_order: Literal["big", "little"] = "big"
    scale: float = 1.0
    offset: float = 0.0
    asset: str
    sensor: str
    unit: str | None = None


class Modbus(_Connector):
    kind: Literal["modbus"]
    host: str
    port: int = Field(default=502, ge=1, le=65535)
    unit_id: int = Field(default=1, ge=0, le=255)
    interval_seconds: float = Field(default=1.0, gt=0)
    registers: list[Register]


ConnectorConfig = Annotated[CsvReplay | ImageFolder | OpcUa | Mqtt | Modbus, Field(discriminator="kind")]
_ADAPTER: TypeAdapter = TypeAdapter(ConnectorConfig)
KINDS = ("csv-replay", "image-folder", "opcua", "mqtt", "modbus")


def load_file(path: Path) -> CsvReplay | ImageFolder | OpcUa | Mqtt | Modbus:
    """One connector file, validated; relative paths in it are taken from the file's folder."""
    path = Path(path)
    data = read_toml(path)
    if "kind" not in data:
        raise ConfigError(f"{path}: missing key 'kind' (one of {', '.join(KINDS)})")
    try:
        config = _ADAPTER.validate_python(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = [str(p) for p in err["loc"][1:]] if err["loc"] and err["loc"][0] in KINDS else [str(p) for p in err["loc"]]
            key = ".".join(loc)  # empty for a rule about several keys together
            message = "unknown key (check the spelling)" if err["type"] == "extra_forbidden" else err["msg"]
            problems.append(f"{key}: {message}" if key else message.removeprefix("Value error, "))
        raise ConfigError(f"{path}: " + "; ".join(problems)) from None
    config.name = config.name or path.stem
    for attr in ("path", "processed", "failed", "certificate", "private_key", "ca_file"):
        value = getattr(config, attr, None)
        if isinstance(value, Path) and not value.is_absolute():
            setattr(config, attr, (path.parent / value).resolve())
    return config


def load_files(paths: list[Path]) -> list:
    """The given connector files, validated; names must be unique across them."""
    configs = [load_file(p) for p in paths]
    seen: set[str] = set()
    for config in configs:
        if config.name in seen:
            raise ConfigError(f"two connectors are named {config.name!r}; names must be unique")
        seen.add(config.name)
    return configs


def load_folder(folder: Path) -> list:
    """Every ``*.toml`` in ``folder`` (sorted); names must be unique."""
    return load_files(sorted(Path(folder).glob("*.toml")))
