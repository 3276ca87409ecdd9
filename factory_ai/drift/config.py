"""The ``[drift]`` section: how drift is measured and when it raises an alert."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class DriftSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["psi", "ks"] = Field(default="psi", description="psi (population stability index) or ks.")
    psi_threshold: float = Field(default=0.25, gt=0, description="PSI above this is drift (0.25: a major shift).")
    ks_threshold: float = Field(default=0.2, gt=0, lt=1, description="KS distance above this is drift.")
    window_hours: float = Field(default=24, gt=0, description="Live data this recent is compared.")
    min_samples: int = Field(default=100, ge=20, description="Fewer values in the window: not judged.")
    max_samples: int = Field(default=20_000, ge=100, description="The newest this many values are used.")
    severity: Literal["info", "warning", "critical"] = "warning"
    retrain_on_drift: bool = Field(default=False, description="Start the model's retrain job when it drifts.")

    @property
    def threshold(self) -> float:
        return self.psi_threshold if self.method == "psi" else self.ks_threshold
