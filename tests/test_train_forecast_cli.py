"""``factory-ai train forecast``: clear refusals before any training starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from factory_ai.cli import app

FLEET = Path(__file__).resolve().parent.parent / "sample_data" / "fleet"


@pytest.fixture(autouse=True)
def _needs_torch() -> None:
    pytest.importorskip("torch")


def _train(*args: str):  # noqa: ANN202
    return CliRunner().invoke(app, ["train", "forecast", "--name", "x", "--no-progress", *args])


def test_history_without_failures_says_how_to_mark_them(plant: Path) -> None:
    result = _train("--data", str(FLEET / "readings.csv"), "--time-column", "timestamp")
    assert result.exit_code == 1
    assert "no failures recorded" in result.stderr and "--events" in result.stderr and "--run-to-failure" in result.stderr


def test_bad_options_are_refused_by_name(plant: Path) -> None:
    result = _train("--data", str(FLEET / "readings.csv"), "--members", "forest")
    assert result.exit_code == 2 and "--members" in result.output
    result = _train("--data", str(FLEET / "readings.csv"), "--network", "lstm")
    assert result.exit_code == 2 and "--network" in result.output


def test_events_with_unknown_kinds_are_refused(plant: Path) -> None:
    (plant / "events.csv").write_text("asset,time,kind\npump-01,2026-01-10T00:00:00Z,explosion\n")
    result = _train("--data", str(FLEET / "readings.csv"), "--time-column", "timestamp", "--events", "events.csv")
    assert result.exit_code == 1 and "unknown event kinds" in result.stderr


def test_every_asset_unusable_is_a_clear_error(plant: Path) -> None:
    (plant / "h.csv").write_text("asset,time,x\na,1,nan\na,2,nan\nb,1,inf\n")
    result = _train("--data", "h.csv", "--run-to-failure")
    assert result.exit_code == 1 and "every asset has unusable data" in result.stderr
