"""The store: SQLModel tables on SQLite (default) or PostgreSQL, timestamps always UTC."""

from factory_ai.store.database import Store
from factory_ai.store.tables import (
    Alert,
    Asset,
    Delivery,
    Event,
    Inspection,
    JobRun,
    ModelVersion,
    Prediction,
    Reading,
    Review,
    Sensor,
)
from factory_ai.store.types import ensure_utc, utcnow

__all__ = [
    "Alert",
    "Asset",
    "Delivery",
    "Event",
    "Inspection",
    "JobRun",
    "ModelVersion",
    "Prediction",
    "Reading",
    "Review",
    "Sensor",
    "Store",
    "ensure_utc",
    "utcnow",
]
