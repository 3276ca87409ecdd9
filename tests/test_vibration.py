"""Vibration features: each figure checked against a signal whose answer is known by hand."""

import math

import numpy as np
import pytest

from factory_ai.history.vibration import bearing_frequencies, iso_zone, snapshot_features

RATE = 25_600.0
T = np.arange(int(RATE)) / RATE  # one second


def test_rms_band_and_velocity_of_a_pure_tone() -> None:
    amplitude_g, f = 0.5, 160.0
    features = snapshot_features(amplitude_g * np.sin(2 * np.pi * f * T)[:, None], RATE, ("x",))
    assert features["x_rms"] == pytest.approx(amplitude_g / math.sqrt(2), rel=1e-3)
    assert features["x_crest"] == pytest.approx(math.sqrt(2), rel=1e-3)
    assert features["x_kurtosis"] == pytest.approx(-1.5, abs=1e-3)  # a sine's excess kurtosis
    assert features["x_band_10_1000"] == pytest.approx(amplitude_g / math.sqrt(2), rel=1e-3)
    assert features["x_band_9000_12800"] < 1e-6
    # Velocity amplitude a / (2 pi f), as RMS in mm/s: 0.5 g at 160 Hz is 3.45 mm/s RMS.
    expected = amplitude_g * 9.80665 / (2 * np.pi * f) / math.sqrt(2) * 1000
    assert features["x_vel_rms"] == pytest.approx(expected, rel=1e-3)
    assert iso_zone(features["x_vel_rms"]) == "C"  # group 2, rigid: 2.8 to 4.5 mm/s


def test_envelope_finds_the_fault_frequency_under_a_resonance() -> None:
    """Impacts at an outer-race defect's rate ring a 5 kHz resonance: the raw spectrum has
    nothing at the defect's frequency, the envelope spectrum has its peak there."""
    rng = np.random.default_rng(0)
    bpfo = 107.0
    ringing = np.sin(2 * np.pi * 5000 * T) * (0.5 + 0.5 * np.cos(2 * np.pi * bpfo * T))
    signal = ringing + 0.05 * rng.normal(size=len(T))
    features = snapshot_features(signal[:, None], RATE, ("x",), fault_hz={"bpfo": bpfo, "bpfi": 163.0})
    assert features["x_env_bpfo"] > 10 * features["x_env_bpfi"]
    assert features["x_band_3000_6000"] > 10 * features["x_band_10_1000"]


def test_bearing_frequencies_and_zones() -> None:
    # A 6205 bearing (9 balls, 7.94 mm balls, 39.04 mm pitch) at 1,800 rpm: textbook values.
    f = bearing_frequencies(30.0, 9, 7.94, 39.04)
    assert f["bpfo"] == pytest.approx(107.5, abs=0.2) and f["bpfi"] == pytest.approx(162.5, abs=0.2)
    assert f["ftf"] == pytest.approx(11.95, abs=0.1) and f["bsf"] == pytest.approx(70.7, abs=0.3)
    assert [iso_zone(v, "group1", "flexible") for v in (1.0, 5.0, 8.0, 12.0)] == ["A", "B", "C", "D"]
    with pytest.raises(ValueError, match="unknown machine class"):
        iso_zone(1.0, "group9")
