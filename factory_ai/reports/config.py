"""The ``[reports]`` section: what the scheduled report job writes, and whom it mails.

Example::

    [reports]
    since = "7d"                 # the period each scheduled report covers
    formats = ["html", "pdf"]
    email_channel = "managers"   # an [[alerts.channels]] entry of kind email; unset: no mail

    [scheduler.jobs.report]
    cron = "0 6 * * 1"           # Mondays 06:00 UTC (the default); "0 6 * * *" for daily
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ReportSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dir: Path = Field(default=Path("var/reports"), description="Where reports and work orders are written.")
    since: str = Field(default="7d", pattern=r"^\s*\d+(\.\d+)?\s*[mhdw]\s*$", description="Period covered, e.g. 7d, 24h.")
    formats: list[Literal["html", "pdf", "md"]] = Field(default_factory=lambda: ["html"], min_length=1)
    email_channel: str | None = Field(default=None, description="Name of an email channel in [[alerts.channels]].")
    risk_alarm: float = Field(default=0.5, gt=0, lt=1, description="Failure risk that makes an asset P1.")
    iso_group: Literal["group1", "group2"] = Field(
        default="group2", description="ISO 10816-3 machine group for the vibration zone: group1 large machines "
        "(300 kW-50 MW), group2 medium ones (15-300 kW).")
    asset_pages: int = Field(
        default=50, ge=0, le=10_000, description="Assets given a section of charts, worst-ranked first; the fleet "
        "table lists every asset either way (a thousand chart pages is a report nobody reads).")
    iso_foundation: Literal["rigid", "flexible"] = Field(default="rigid", description="ISO 10816-3 foundation.")

    @property
    def machine_class(self) -> tuple[str, str]:
        return (self.iso_group, self.iso_foundation)
