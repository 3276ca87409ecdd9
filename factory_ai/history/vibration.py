"""Vibration features from accelerometer snapshots: the figures a rotating-equipment engineer reads.

Why features and not raw samples: a snapshot is thousands of samples a second, far too dense for
a readings table, and what wear changes is known. Per axis:

- ``rms``, ``peak``, ``crest`` (peak over RMS) and ``kurtosis`` (excess): impacts from a
  spalled race raise crest factor and kurtosis before they raise the overall level;
- ``band_<lo>_<hi>`` RMS in frequency bands: an early bearing defect shows first as energy at
  high frequencies (the structure's resonances excited by small impacts), long before the
  overall RMS moves;
- ``vel_rms``: velocity RMS in mm/s over 10-1,000 Hz, the figure ISO 10816/20816 severity
  zones are written in (:func:`iso_zone`);
- ``env_<name>``: with the bearing's fault frequencies (:func:`bearing_frequencies`), the
  amplitude of the envelope spectrum at each: the classic signature of an outer-race (BPFO),
  inner-race (BPFI), ball (BSF) or cage (FTF) defect.

All of it is numpy on the line side.
"""

from __future__ import annotations

import math

import numpy as np

G = 9.80665  # m/s² per g
DEFAULT_BANDS_HZ: tuple[tuple[float, float | None], ...] = (
    (10, 1000), (1000, 3000), (3000, 6000), (6000, 9000), (9000, None))  # None: up to half the rate

# ISO 10816-3 zone boundaries A/B, B/C, C/D in mm/s RMS, by machine group and foundation.
ISO_BOUNDARIES = {
    ("group1", "rigid"): (2.3, 4.5, 7.1), ("group1", "flexible"): (3.5, 7.1, 11.0),
    ("group2", "rigid"): (1.4, 2.8, 4.5), ("group2", "flexible"): (2.3, 4.5, 7.1),
}

ZONE_MEANING = {"A": "as newly commissioned", "B": "fit for unrestricted long-term operation",
                "C": "restricted operation: plan a repair", "D": "severe enough to cause damage"}


def bearing_frequencies(shaft_hz: float, balls: int, ball_diameter: float, pitch_diameter: float,
                        contact_angle_deg: float = 0.0) -> dict[str, float]:
    """The four defect frequencies of a rolling bearing from its geometry and the shaft speed."""
    ratio = ball_diameter / pitch_diameter * math.cos(math.radians(contact_angle_deg))
    return {"bpfo": balls / 2 * shaft_hz * (1 - ratio), "bpfi": balls / 2 * shaft_hz * (1 + ratio),
            "bsf": pitch_diameter / (2 * ball_diameter) * shaft_hz * (1 - ratio**2),
            "ftf": shaft_hz / 2 * (1 - ratio)}


def iso_zone(velocity_rms_mm_s: float, group: str = "group2", foundation: str = "rigid") -> str:
    """The ISO 10816-3 zone (A: new, B: unrestricted, C: restricted, D: damage) of a velocity RMS."""
    try:
        ab, bc, cd = ISO_BOUNDARIES[(group, foundation)]
    except KeyError:
        raise ValueError(f"unknown machine class {group}/{foundation}; use group1|group2 and rigid|flexible") from None
    if not math.isfinite(velocity_rms_mm_s):
        return "?"
    return "A" if velocity_rms_mm_s < ab else "B" if velocity_rms_mm_s < bc else "C" if velocity_rms_mm_s < cd else "D"


def snapshot_features(samples: np.ndarray, rate_hz: float, axes: tuple[str, ...] = ("h", "v"), *,
                      bands: tuple[tuple[float, float | None], ...] = DEFAULT_BANDS_HZ, units: str = "g",
                      fault_hz: dict[str, float] | None = None) -> dict[str, float]:
    """Features of one snapshot ``[n_samples, n_axes]`` of acceleration (in g, or m/s² with
    ``units="m/s2"``), named ``<axis>_<feature>``."""
    samples = np.asarray(samples, np.float64)
    if samples.ndim == 1:
        samples = samples[:, None]
    out: dict[str, float] = {}
    n = samples.shape[0]
    freq = np.fft.rfftfreq(n, 1.0 / rate_hz)
    to_ms2 = G if units == "g" else 1.0
    for axis, values in zip(axes, samples.T, strict=True):
        centred = values - values.mean()
        var = float(np.mean(centred**2))
        rms = float(np.sqrt(np.mean(values**2)))
        peak = float(np.abs(values).max())
        out[f"{axis}_rms"] = rms
        out[f"{axis}_peak"] = peak
        out[f"{axis}_crest"] = peak / rms if rms > 0 else float("nan")
        out[f"{axis}_kurtosis"] = float(np.mean(centred**4) / var**2 - 3.0) if var > 0 else float("nan")
        spectrum = np.fft.rfft(centred)
        power = 2.0 * np.abs(spectrum) ** 2 / n**2  # mean-square per bin (one-sided; Parseval)
        for lo, hi in bands:
            top = rate_hz / 2 if hi is None else hi
            out[f"{axis}_band_{lo:g}_{top:g}"] = float(np.sqrt(power[(freq >= lo) & (freq < top)].sum()))
        # Velocity: acceleration divided by 2 pi f, over 10-1,000 Hz, in mm/s.
        keep = (freq >= 10) & (freq <= 1000)
        velocity = power[keep] * (to_ms2 / (2 * np.pi * freq[keep])) ** 2
        out[f"{axis}_vel_rms"] = float(np.sqrt(velocity.sum()) * 1000.0)
        if fault_hz:
            envelope = np.abs(_analytic(centred))
            env_spectrum = 2.0 * np.abs(np.fft.rfft(envelope - envelope.mean())) / n
            step = freq[1] - freq[0] if len(freq) > 1 else 1.0
            for name, f in fault_hz.items():
                near = np.abs(freq - f) <= max(step, 0.01 * f)
                out[f"{axis}_env_{name}"] = float(env_spectrum[near].max()) if near.any() else float("nan")
    return out


def _analytic(x: np.ndarray) -> np.ndarray:
    """The analytic signal (Hilbert transform by FFT), whose magnitude is the envelope."""
    n = len(x)
    spectrum = np.fft.fft(x)
    h = np.zeros(n)
    h[0] = 1.0
    if n % 2 == 0:
        h[n // 2] = 1.0
        h[1 : n // 2] = 2.0
    else:
        h[1 : (n + 1) // 2] = 2.0
    return np.fft.ifft(spectrum * h)
