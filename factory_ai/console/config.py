"""The ``[console]`` section: what the operator console shows.

Example::

    [console]
    shift_start = "06:00"   # UTC; shifts of shift_hours follow each other from here
    shift_hours = 8
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ConsoleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="Serve the console at / beside the API.")
    shift_start: str = Field(default="06:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
                             description="When a shift starts (UTC, HH:MM); the others follow every shift_hours.")
    shift_hours: float = Field(default=8.0, gt=0, le=24)
    line_cards: int = Field(default=24, ge=1, le=200, description="Inspected parts shown on the line view.")
