"""Accelerometer snapshots arriving through any connector, stored as vibration features.

Why features and not samples: a snapshot is thousands of samples taken in a fraction of a
second, far too dense for the readings table and not what a health model or a person reads.
What they read are the figures of ``factory_ai.history.vibration`` (RMS, peak, crest factor,
kurtosis, band RMS, velocity RMS, the envelope at the bearing's fault frequencies), so a
waveform becomes those readings, with the sensor's name as their prefix, at the snapshot's time.
The MQTT connector (a list in a JSON payload, an array metric in Sparkplug B) and the OPC UA
connector (an array variable) all use this one function, so a pump is described the same
whichever way its gateway talks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np

from factory_ai.ingest import SensorReading

MIN_SAMPLES = 64
MAX_SAMPLES = 1 << 20  # ten seconds at 100 kHz; a larger "snapshot" is refused, not analysed
_UNITS = {"vel_rms": "mm/s", "crest": None, "kurtosis": None}


def waveform_readings(asset: str, mapping: Any, ts: datetime, value: Any, where: str) -> list[SensorReading]:
    """The vibration-feature readings of one snapshot; ``mapping`` carries ``sensor``,
    ``rate_hz``, ``samples_unit`` and ``fault_hz``. ValueError, naming ``where`` (the field or
    node), when ``value`` is not a snapshot: it costs only itself."""
    from factory_ai.history.vibration import snapshot_features

    if isinstance(value, str | bytes) or not hasattr(value, "__len__") or len(value) < MIN_SAMPLES:
        raise ValueError(f"{where} is not a waveform snapshot (a list of at least {MIN_SAMPLES} samples)")
    if len(value) > MAX_SAMPLES:
        raise ValueError(f"{where}: {len(value):,} samples, more than the {MAX_SAMPLES:,} a snapshot may hold")
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{where}: the samples are not all numbers") from None
    # Numbers only: numpy would also read "1.5" or True as a sample, and an integer too large
    # for a machine word comes back as an object array.
    if raw.ndim != 1 or raw.dtype.kind not in "iuf":
        raise ValueError(f"{where}: the samples must be one list of numbers")
    samples = raw.astype(np.float64)
    if not np.isfinite(samples).all():
        raise ValueError(f"{where}: the samples must be finite numbers")
    features = snapshot_features(samples[:, None], mapping.rate_hz, (mapping.sensor,), units=mapping.samples_unit,
                                 fault_hz=mapping.fault_hz or None)
    prefix = len(mapping.sensor) + 1
    return [SensorReading(asset, name, ts, float(v), _UNITS.get(name[prefix:], mapping.samples_unit))
            for name, v in features.items() if np.isfinite(v)]
