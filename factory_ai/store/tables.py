"""The store's tables (SQLModel), the same on SQLite and PostgreSQL.

Why these tables: they follow the flow. Connectors write ``readings`` for ``sensors`` on
``assets``; models write ``inspections`` (one per judged image) and ``predictions`` (one per
scored asset); rules write ``alerts`` and the outbox of their ``deliveries``; the registry
records ``model_versions`` so every result can be traced to the exact model file that produced
it. Operators add ``reviews`` (labels for retraining) and ``events`` (failures and maintenance);
the scheduler records ``job_runs``.

Every timestamp is a :class:`~factory_ai.store.types.UTCDateTime`. Changing a table here
needs a migration in ``store/migrations/versions`` (a test compares the two).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from factory_ai.store.types import UTCDateTime, utcnow

# Readings grow to billions of rows on PostgreSQL; SQLite only auto-increments INTEGER keys.
_BIG_ID = BigInteger().with_variant(Integer(), "sqlite")


class Asset(SQLModel, table=True):
    """A machine or product line position that sensors belong to and predictions are about.

    Known by line and name: two lines may each have a ``press-1`` (``store.assets`` gives the
    one-string key the rest of the code uses). An asset without a line counts as line ''."""

    __tablename__ = "assets"
    __table_args__ = (Index("ux_assets_line_name", text("coalesce(line, '')"), "name", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, index=True)
    line: str | None = Field(default=None, max_length=100, index=True)
    kind: str | None = Field(default=None, max_length=100)
    description: str | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Sensor(SQLModel, table=True):
    """One measured quantity of an asset, with its unit and (optional) normal range."""

    __tablename__ = "sensors"
    __table_args__ = (UniqueConstraint("asset_id", "name", name="uq_sensors_asset_name"),)

    id: int | None = Field(default=None, primary_key=True)
    asset_id: int = Field(foreign_key="assets.id", index=True)
    name: str = Field(max_length=200)
    unit: str | None = Field(default=None, max_length=50)
    low_limit: float | None = None
    high_limit: float | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Reading(SQLModel, table=True):
    """One sensor value at one instant, keyed by (sensor, ts) so replays cannot duplicate.

    Why no id: nothing refers to a single reading, and the key is what every query walks
    (one sensor over a time range). On SQLite the table is ``WITHOUT ROWID``: the rows live in
    the key's own b-tree instead of a rowid tree plus a unique index beside it, so each insert
    writes one tree, not two (about 1.9x the rows per second, bench/ingest.py).
    """

    __tablename__ = "readings"
    __table_args__ = {"sqlite_with_rowid": False}

    sensor_id: int = Field(sa_column=Column(Integer, ForeignKey("sensors.id"), primary_key=True, autoincrement=False))
    ts: datetime = Field(sa_column=Column(UTCDateTime, primary_key=True, nullable=False))
    value: float


class Inspection(SQLModel, table=True):
    """The verdict on one product image (or the reason it could not be judged)."""

    __tablename__ = "inspections"
    __table_args__ = (Index("ix_inspections_line_ts", "line", "ts"),)

    id: int | None = Field(default=None, sa_column=Column(_BIG_ID, primary_key=True, autoincrement=True))
    ts: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)
    source: str = Field(description="Where the image came from: a file path, a camera or an upload.")
    line: str | None = Field(default=None, max_length=100)
    image_sha256: str | None = Field(default=None, max_length=64)
    model_name: str | None = Field(default=None, max_length=200)
    model_version: str | None = Field(default=None, max_length=50)
    label: str | None = Field(default=None, max_length=200)
    confidence: float | None = None
    verdict: str = Field(max_length=200, index=True, description="pass, reject, review, a class, or error")
    scores: dict[str, float] | None = Field(default=None, sa_type=JSON)
    score: float | None = Field(default=None, description="An anomaly detector's calibrated score (1.0 = threshold).")
    answers: dict[str, Any] | None = Field(
        default=None, sa_type=JSON, description="Every model's answer when a line runs several: model -> "
        "{version, label, confidence, verdict, score}.")
    provider: str | None = Field(default=None, max_length=100, description="onnxruntime provider that ran")
    latency_ms: float | None = None
    heatmap_path: str | None = None
    image_path: str | None = Field(default=None, description="The kept copy of the image (review and training).")
    brightness: float | None = Field(default=None, description="Mean input pixel, 0..1 (drift).")
    contrast: float | None = Field(default=None, description="Input pixel standard deviation, 0..1 (drift).")
    error: str | None = None


class Prediction(SQLModel, table=True):
    """A forecast for one asset: remaining useful life with its interval, and failure risk."""

    __tablename__ = "predictions"
    __table_args__ = (Index("ix_predictions_asset_ts", "asset_id", "ts"),)

    id: int | None = Field(default=None, sa_column=Column(_BIG_ID, primary_key=True, autoincrement=True))
    ts: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    asset_id: int = Field(foreign_key="assets.id")
    model_name: str | None = Field(default=None, max_length=200)
    model_version: str | None = Field(default=None, max_length=50)
    rul: float | None = None
    rul_low: float | None = None
    rul_high: float | None = None
    risk: float | None = None
    horizon: float | None = None
    provider: str | None = Field(default=None, max_length=100)
    error: str | None = None


class HealthScore(SQLModel, table=True):
    """How far one asset was from its normal behaviour at a time step, and which sensors moved."""

    __tablename__ = "health_scores"
    __table_args__ = (Index("ix_health_scores_asset_ts", "asset_id", "ts"),)

    id: int | None = Field(default=None, sa_column=Column(_BIG_ID, primary_key=True, autoincrement=True))
    ts: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False,
                         description="When it was scored.")
    data_ts: datetime | None = Field(default=None, sa_type=UTCDateTime, description="The last reading it read.")
    asset_id: int = Field(foreign_key="assets.id")
    model_name: str | None = Field(default=None, max_length=200)
    model_version: str | None = Field(default=None, max_length=50)
    score: float | None = Field(default=None, description="About 1 when normal; the card's threshold alarms.")
    health: float | None = Field(default=None, description="0..100: 100 as normal as training, 50 at the threshold.")
    alarm: bool | None = Field(default=None, description="Above the threshold in k of the last n windows.")
    top_sensors: list[dict[str, Any]] | None = Field(
        default=None, sa_type=JSON, description="The sensors that moved most: [{sensor, share}].")
    provider: str | None = Field(default=None, max_length=100)
    error: str | None = None


class Alert(SQLModel, table=True):
    """A condition someone must hear about; the same ``key`` counts up instead of repeating."""

    __tablename__ = "alerts"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=300, index=True)
    rule: str = Field(max_length=200)
    severity: str = Field(max_length=20, description="info, warning or critical")
    asset_id: int | None = Field(default=None, foreign_key="assets.id", index=True)
    message: str
    first_seen: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    last_seen: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    count: int = 1
    status: str = Field(default="open", max_length=20, index=True, description="open, acknowledged, resolved")
    acknowledged_by: str | None = Field(default=None, max_length=200)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    notified_at: datetime | None = Field(default=None, sa_type=UTCDateTime, description="Last time channels were told.")
    line: str | None = Field(default=None, max_length=100)


class ModelVersion(SQLModel, table=True):
    """A registered model artifact; results name (model_name, model_version) to trace back here."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_model_versions_name_version"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, index=True)
    version: str = Field(max_length=50)
    family: str = Field(max_length=50, description="vision-classifier, forecast, ...")
    path: str
    sha256: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    promoted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    status: str = Field(default="registered", max_length=20, description="registered, current or retired")
    metrics: dict[str, Any] | None = Field(default=None, sa_type=JSON)


class Review(SQLModel, table=True):
    """An operator's judgement of one inspection: a label (training data), or a flag asking for one."""

    __tablename__ = "reviews"

    id: int | None = Field(default=None, primary_key=True)
    inspection_id: int = Field(sa_column=Column(_BIG_ID, ForeignKey("inspections.id"), unique=True, nullable=False))
    label: str | None = Field(default=None, max_length=200, description="A class name, or pass / reject.")
    flagged: bool = False
    reviewer: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    labelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)


class Event(SQLModel, table=True):
    """A failure or maintenance on an asset: it ends the run that remaining useful life counts to."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_asset_ts", "asset_id", "ts"),)

    id: int | None = Field(default=None, primary_key=True)
    asset_id: int = Field(foreign_key="assets.id")
    ts: datetime = Field(sa_type=UTCDateTime, nullable=False)
    kind: str = Field(max_length=20, description="failure or maintenance")
    note: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class JobRun(SQLModel, table=True):
    """One run of a scheduled (or hand-started) job, with its outcome."""

    __tablename__ = "job_runs"
    __table_args__ = (Index("ix_job_runs_job_started", "job", "started_at"),)

    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=100)
    trigger: str = Field(default="schedule", max_length=20, description="schedule or manual")
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    status: str = Field(default="running", max_length=20, description="running, ok or failed")
    error: str | None = None
    detail: dict[str, Any] | None = Field(default=None, sa_type=JSON)


class Delivery(SQLModel, table=True):
    """The outbox: one alert notification for one channel, kept until the channel took it."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_status_next", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    alert_id: int = Field(foreign_key="alerts.id", index=True)
    channel: str = Field(max_length=100)
    event: str = Field(max_length=20, description="raised, repeated or resolved")
    payload: dict[str, Any] = Field(sa_type=JSON)
    status: str = Field(default="pending", max_length=20, description="pending or sent")
    attempts: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = None
