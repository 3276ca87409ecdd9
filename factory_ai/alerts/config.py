"""The ``[alerts]`` section of factory.toml: rules that raise alerts, channels that carry them.

Why rules live in the config: what counts as "too low" or "too many" differs per plant and
per line, and the reliability engineer who owns that judgement edits a file, not code. Each
rule and channel is a table with a ``kind``; a typo in a key fails at start, naming it.

Example::

    [alerts]
    cooldown_minutes = 60            # a repeating alert is re-sent at most this often

    [[alerts.rules]]
    name = "rul-low"
    kind = "rul_below"
    threshold = 24                   # hours (the forecast model's time unit)
    severity = "critical"

    [[alerts.channels]]
    name = "maintenance"
    kind = "webhook"
    url = "https://cmms.example/hooks/factory-ai"
    secret = "shared-secret"         # signs every body (HMAC-SHA256)
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Severity = Literal["info", "warning", "critical"]
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Named(_Strict):
    """Rules and channels: named (alerts and deliveries refer to them by name), and switchable."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    enabled: bool = True


class _Rule(_Named):
    severity: Severity = "warning"


class RulBelow(_Rule):
    """The latest forecast of an asset says fewer than ``threshold`` time units of life are left."""

    kind: Literal["rul_below"]
    threshold: float = Field(gt=0)


class RiskAbove(_Rule):
    """The latest forecast's failure probability within the model's horizon is above ``threshold``."""

    kind: Literal["risk_above"]
    threshold: float = Field(gt=0, lt=1)


class HealthBelow(_Rule):
    """An asset's machine-health index (0-100, 50 at its model's alarm threshold) has stayed
    below ``threshold`` for its last ``consecutive`` scores; the message names the sensors that
    moved most."""

    kind: Literal["health_below"]
    threshold: float = Field(default=50, gt=0, le=100)
    consecutive: int = Field(default=3, ge=1, le=100, description="Scores in a row below the threshold.")


class DefectRate(_Rule):
    """More than ``percent`` % of a line's inspections in the last ``window_minutes`` were not a pass."""

    kind: Literal["defect_rate"]
    percent: float = Field(gt=0, le=100)
    window_minutes: float = Field(default=60, gt=0)
    min_inspections: int = Field(default=20, ge=1, description="Fewer in the window: too few to judge.")
    good_verdicts: list[str] = Field(default_factory=lambda: ["pass"])


class SpcPChart(_Rule):
    """Western Electric rules 1-4 on the defect proportion per subgroup (a p-chart).

    The centre line is the mean proportion over ``baseline_subgroups`` subgroups before the
    ones checked (or ``center`` when given); limits are 3 sigma for each subgroup's size.
    """

    kind: Literal["spc_p_chart"]
    subgroup_minutes: float = Field(default=60, gt=0)
    baseline_subgroups: int = Field(default=24, ge=4)
    checked_subgroups: int = Field(default=8, ge=1, le=64, description="Recent subgroups the rules look at.")
    center: float | None = Field(default=None, gt=0, lt=1)
    rules: list[Literal[1, 2, 3, 4]] = Field(default_factory=lambda: [1, 2, 3, 4])
    min_subgroup: int = Field(default=5, ge=1, description="Smaller subgroups are left out of the chart.")
    good_verdicts: list[str] = Field(default_factory=lambda: ["pass"])


class SensorRange(_Rule):
    """A sensor's latest reading is outside its limits: the rule's own, else the sensor's table limits."""

    kind: Literal["sensor_range"]
    sensors: list[str] = Field(default_factory=list, description="Sensor names (empty: every sensor with limits).")
    low: float | None = None
    high: float | None = None


class SensorStale(_Rule):
    """A sensor has sent nothing for ``max_age_minutes``."""

    kind: Literal["sensor_stale"]
    max_age_minutes: float = Field(gt=0)
    sensors: list[str] = Field(default_factory=list, description="Sensor names (empty: every sensor).")


class ConnectorDown(_Rule):
    """A connector of this daemon is not connected."""

    kind: Literal["connector_down"]
    connectors: list[str] = Field(default_factory=list, description="Connector names (empty: all).")


class JobFailed(_Rule):
    """The latest run of a scheduled job failed."""

    kind: Literal["job_failed"]
    jobs: list[str] = Field(default_factory=list, description="Job names (empty: all).")


Rule = Annotated[RulBelow | RiskAbove | HealthBelow | DefectRate | SpcPChart | SensorRange | SensorStale | ConnectorDown | JobFailed,
                 Field(discriminator="kind")]


class _Channel(_Named):
    min_severity: Severity = "info"


class WebhookChannel(_Channel):
    """A JSON POST; with ``secret``, the body is signed (header X-Factory-AI-Signature: sha256=<hex>)."""

    kind: Literal["webhook"]
    url: str = Field(pattern=r"^https?://")
    secret: str | None = None
    timeout_seconds: float = Field(default=10, gt=0)
    headers: dict[str, str] = Field(default_factory=dict)


class EmailChannel(_Channel):
    """Mail over SMTP: plain, STARTTLS (port 587) or TLS from the start (port 465), optionally logged in."""

    kind: Literal["email"]
    host: str
    port: int = Field(default=25, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "none"
    username: str | None = None
    password: str | None = None
    sender: str = Field(alias="from")
    to: list[str] = Field(min_length=1)
    timeout_seconds: float = Field(default=15, gt=0)
    ca_file: str | None = Field(default=None, description="CA bundle for a plant's own mail server certificate.")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _login_pairs(self) -> EmailChannel:
        if (self.username is None) != (self.password is None):
            raise ValueError("give both username and password, or neither")
        return self


class MqttChannel(_Channel):
    """A JSON message on ``topic`` ({severity} and {rule} are filled in), QoS 1."""

    kind: Literal["mqtt"]
    host: str
    port: int = Field(default=1883, ge=1, le=65535)
    topic: str = "factory-ai/alerts/{severity}"
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None
    retain: bool = False
    timeout_seconds: float = Field(default=10, gt=0)


class ConnectorChannel(_Channel):
    """Handed to a running connector of this daemon that publishes alerts: an MQTT connector with
    ``alert_topic``, or a Sparkplug B one with ``group``/``edge_node`` (device ``alerts``), for a
    SCADA that reads only its own protocol. Only the daemon delivers these; elsewhere (``factory-ai
    alerts``) the delivery waits in the outbox for the daemon's next alert check."""

    kind: Literal["connector"]
    connector: str = Field(description="The connector's name (its file name without .toml, or its name key).")


class LogChannel(_Channel):
    """A line in the daemon's log (journald under systemd)."""

    kind: Literal["log"]


Channel = Annotated[WebhookChannel | EmailChannel | MqttChannel | ConnectorChannel | LogChannel,
                    Field(discriminator="kind")]


class AlertSettings(_Strict):
    cooldown_minutes: float = Field(default=60, ge=0, description="A repeating alert is re-sent at most this often.")
    auto_resolve: bool = Field(default=True, description="Resolve an alert when its condition is no longer seen.")
    retry_max_minutes: float = Field(default=30, gt=0, description="Longest wait between delivery attempts.")
    rules: list[Rule] = Field(default_factory=list)
    channels: list[Channel] = Field(default_factory=lambda: [LogChannel(name="log", kind="log")])

    @model_validator(mode="after")
    def _unique_names(self) -> AlertSettings:
        for what, items in (("rule", self.rules), ("channel", self.channels)):
            names = [item.name for item in items]
            doubles = sorted({n for n in names if names.count(n) > 1})
            if doubles:
                raise ValueError(f"{what} names must be unique: {', '.join(doubles)}")
        return self
