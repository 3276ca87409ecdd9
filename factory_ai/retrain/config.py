"""The ``[retrain]`` section: where challengers are trained and what they must beat.

Example::

    [retrain.vision]
    base_data = "/srv/datasets/line3-surface"    # the original training set (class folders), kept
    min_new_labels = 50                          # fewer new operator labels: skip this week
    margin = 0.01                                # accuracy on the frozen holdout must rise this much
    train_args = ["--epochs", "40", "--image-size", "128"]
    # Train on a GPU server instead of here: the command must leave a new version in the registry.
    # command = ["ssh", "gpu1", "cd /srv/factory && factory-ai train vision --data {data} --name {name}"]

    [retrain.forecast]                           # challenges [daemon] forecast_model
    min_new_events = 3                           # new failures/maintenance recorded (factory-ai events)
    margin = 0.05                                # RUL RMSE on held-out failure runs must fall 5 %
    train_args = ["--epochs", "40"]              # the champion's horizon, cap, window... are kept

    [retrain.health]                             # challenges [daemon] health_model
    window_days = 30                             # learn normal operation from the last 30 days
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class _Family(BaseModel):
    model_config = ConfigDict(extra="forbid")

    holdout_percent: float = Field(default=20, gt=0, lt=100, description="Share of the store's labelled data "
                                   "frozen as the holdout (chosen by content hash, so membership never changes).")
    min_holdout: int = Field(default=20, ge=1, description="A smaller holdout cannot judge: the challenger is refused.")
    train_args: list[str] = Field(default_factory=list, description="Extra `factory-ai train` options.")
    command: list[str] | None = Field(
        default=None, description="External training command (GPU server, batch job). Placeholders: {data}, "
        "{events}, {name}, {models_dir}. Default: `factory-ai train` here, on the local GPU if there is one.")
    artifact_wait_minutes: float = Field(default=0, ge=0, description="After the command exits, wait this long "
                                         "for the new version to appear in the registry (asynchronous jobs).")
    timeout_minutes: float = Field(default=240, gt=0)


class VisionRetrain(_Family):
    base_data: Path | None = Field(default=None, description="Original training images (one folder per class), "
                                   "trained on together with the store's labels.")
    min_new_labels: int = Field(default=20, ge=1, description="New labels since the last retrain needed to run.")
    margin: float = Field(default=0.0, ge=0, le=1, description="Accuracy points (0..1) the challenger must gain.")


class ForecastRetrain(_Family):
    min_new_events: int = Field(default=1, ge=1, description="New failure/maintenance events needed to run.")
    margin: float = Field(default=0.0, ge=0, lt=1, description="Relative RUL RMSE drop the challenger must show "
                          "(0.05 = 5 % lower).")
    min_holdout_runs: int = Field(default=2, ge=1, description="Held-out failure runs needed to judge.")
    cuts_per_run: int = Field(default=20, ge=1, description="Points at which each held-out run is forecast "
                              "(the holdout's sample count is the number of cuts).")


class AnomalyRetrain(_Family):
    min_new_parts: int = Field(default=200, ge=1, description="New good parts (passed with a wide margin, or reviewed "
                               "good) since the last retrain needed to run.")
    pass_margin: float = Field(default=0.5, gt=0, lt=1, description="A passed part counts as good training data "
                               "when its calibrated score is below this (well under the threshold of 1.0).")
    base_data: Path | None = Field(default=None, description="The original good images, trained on together with the "
                                   "new ones.")
    max_false_reject_rise: float = Field(default=0.01, ge=0, le=1, description="The challenger's false-reject rate "
                                         "on the frozen holdout may exceed the champion's by this much at most.")


class HealthRetrain(_Family):
    window_days: float = Field(default=30, gt=0, description="The recent stretch of readings (before the newest) "
                               "the challenger learns normal operation from.")
    min_new_readings: int = Field(default=1000, ge=1, description="Readings stored since the last retrain needed "
                                  "to run.")
    max_false_alarm_rise: float = Field(default=0.0, ge=0, le=1, description="How much higher (alarms per window) "
                                        "the challenger's false-alarm rate on the frozen recent normal data may be.")


class RetrainSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vision: VisionRetrain = Field(default_factory=VisionRetrain)
    forecast: ForecastRetrain = Field(default_factory=ForecastRetrain)
    anomaly: AnomalyRetrain = Field(default_factory=AnomalyRetrain)
    health: HealthRetrain = Field(default_factory=HealthRetrain)
    work_dir: Path = Field(default=Path("var/retrain"), description="Exported datasets and training logs.")
