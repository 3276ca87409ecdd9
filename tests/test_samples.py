"""The committed sample images are the generator's output, so anyone can regenerate them."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from factory_ai.samples.images import CLASSES, generate

COMMITTED = Path(__file__).resolve().parent.parent / "sample_data" / "images"


def test_generator_is_deterministic(tmp_path: Path) -> None:
    generate(tmp_path / "a", per_class=3, size=48, seed=1)
    generate(tmp_path / "b", per_class=3, size=48, seed=1)
    generate(tmp_path / "c", per_class=3, size=48, seed=2)
    for label in CLASSES:
        for n in range(3):
            name = f"{label}/{label}_{n:03d}.png"
            a, b, c = (np.asarray(Image.open(tmp_path / d / name)) for d in "abc")
            assert np.array_equal(a, b)
            assert not np.array_equal(a, c)


def test_committed_samples_regenerate(tmp_path: Path) -> None:
    if not COMMITTED.is_dir():
        pytest.skip("sample_data/images not present")
    generate(tmp_path, per_class=60, size=96, seed=7)
    committed = sorted(p.relative_to(COMMITTED) for p in COMMITTED.rglob("*.png"))
    assert committed == sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.png"))
    for rel in committed:
        a = np.asarray(Image.open(COMMITTED / rel), dtype=np.int16)
        b = np.asarray(Image.open(tmp_path / rel), dtype=np.int16)
        # Identical up to floating-point rounding on another CPU or numpy build.
        assert np.abs(a - b).max() <= 1, rel


def test_sample_set_is_small_enough_to_commit() -> None:
    if not COMMITTED.is_dir():
        pytest.skip("sample_data/images not present")
    total = sum(p.stat().st_size for p in COMMITTED.rglob("*") if p.is_file())
    assert total <= 5_000_000


def test_committed_fleet_regenerates_and_has_what_the_forecast_needs(tmp_path: Path) -> None:
    import pandas as pd

    from factory_ai.samples.fleet import SIGNALS
    from factory_ai.samples.fleet import generate as generate_fleet

    committed = COMMITTED.parent / "fleet"
    summary = generate_fleet(tmp_path)
    ours = pd.read_csv(summary.readings)
    theirs = pd.read_csv(committed / "readings.csv")
    assert list(ours.columns) == ["asset", "timestamp", "load", *SIGNALS]
    pd.testing.assert_frame_equal(ours, theirs, atol=2e-3)  # up to last-digit rounding elsewhere
    assert (committed / "events.csv").read_text() == summary.events.read_text()
    events = pd.read_csv(summary.events)
    assert {"failure", "maintenance"} == set(events["kind"])
    # Every pump's last run is unfinished: no event after its last reading.
    last_reading = pd.to_datetime(ours.groupby("asset")["timestamp"].max(), utc=True)
    last_event = pd.to_datetime(events.groupby("asset")["time"].max(), utc=True)
    assert (last_event < last_reading).all()
    assert set(ours["load"].unique()) == {40.0, 70.0, 100.0}
