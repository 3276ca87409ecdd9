"""One sensor value at one instant, as every connector hands it over."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class SensorReading:
    asset: str
    sensor: str
    ts: datetime
    value: float
    unit: str | None = None

    def problem(self) -> str | None:
        """Why this reading cannot be accepted, or None. Checked before it enters the queue, so
        a NaN from a PLC or a naive timestamp is refused (and counted) at the door instead of
        poisoning a batch."""
        if not self.asset or not self.sensor:
            return "asset and sensor names must not be empty"
        if not isinstance(self.value, int | float) or isinstance(self.value, bool):
            return f"value {self.value!r} is not a number"
        if not math.isfinite(self.value):
            return f"value {self.value} is not finite"
        if not isinstance(self.ts, datetime):
            return f"timestamp {self.ts!r} is not a datetime"
        if self.ts.tzinfo is not UTC and (self.ts.tzinfo is None or self.ts.utcoffset() is None):
            return f"naive timestamp {self.ts.isoformat()} refused: give a time zone (UTC expected)"
        return None
