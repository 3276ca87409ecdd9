"""A synthetic run-to-failure fleet: hourly sensor history of pumps that wear out.

Why synthetic: the demo and the tests must train and predict on a fresh clone without any
download. The generator imitates what makes real fleets hard, so a model that works here has
learned something:

- **Regimes.** Each pump switches between three loads (40, 70, 100 %) every day or two, and
  every signal's level follows the load far more than it follows wear.
- **Degradation.** Wear grows slowly, then fast (a power law of the run's age over its
  lifetime), and shows in vibration most, in temperature and current less, and pulls the
  discharge pressure down. Lifetimes differ from run to run (250 to 700 hours).
- **Noise.** Every signal has sensor noise of its own size, and vibration has rare spikes.
- **Failures and maintenance.** A run ends in a failure, or (one run in four) in preventive
  maintenance before it fails, which censors it. Each pump's last run is still going when
  the data ends: that is the one to forecast.

Output: ``readings.csv`` (wide: asset, timestamp in UTC, load, vibration, temperature,
pressure, current) and ``events.csv`` (asset, time, kind), deterministic for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

LOADS = (0.4, 0.7, 1.0)
SIGNALS = ("vibration", "temperature", "pressure", "current")
START = pd.Timestamp("2026-01-05T00:00:00Z")


@dataclass
class FleetSummary:
    assets: int
    rows: int
    failures: int
    maintenance: int
    readings: Path
    events: Path


def generate(out: Path, *, assets: int = 12, runs: int = 4, seed: int = 11) -> FleetSummary:
    """Write ``readings.csv`` and ``events.csv`` under ``out``; every pump has ``runs`` runs, the
    last one unfinished."""
    rng = np.random.default_rng(seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    frames, events = [], []
    for a in range(assets):
        name = f"pump-{a + 1:02d}"
        hour = int(rng.integers(0, 48))
        for r in range(runs):
            lifetime = int(rng.uniform(250, 700))
            last = r == runs - 1
            maintained = not last and rng.random() < 0.25
            if last:
                length = int(lifetime * rng.uniform(0.3, 0.95))  # still running at the end of the data
            elif maintained:
                length = int(lifetime * rng.uniform(0.55, 0.9))
            else:
                length = lifetime
            frames.append(_run(rng, name, hour, length, lifetime))
            hour += length
            if not last:
                events.append({"asset": name, "time": (START + pd.Timedelta(hours=hour - 1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                               "kind": "maintenance" if maintained else "failure"})
                hour += int(rng.integers(4, 24))  # repair or service downtime: no readings
    readings = pd.concat(frames, ignore_index=True)
    event_frame = pd.DataFrame(events, columns=["asset", "time", "kind"])
    readings_path, events_path = out / "readings.csv", out / "events.csv"
    readings.to_csv(readings_path, index=False, float_format="%.3f")
    event_frame.to_csv(events_path, index=False)
    return FleetSummary(assets=assets, rows=len(readings), failures=int((event_frame["kind"] == "failure").sum()),
                        maintenance=int((event_frame["kind"] == "maintenance").sum()), readings=readings_path,
                        events=events_path)


def _run(rng: np.random.Generator, name: str, start_hour: int, length: int, lifetime: int) -> pd.DataFrame:
    age = np.arange(length, dtype=np.float64)
    wear = (age / lifetime) ** rng.uniform(2.0, 3.0)
    load = _loads(rng, length)
    # Each pump has its own small offsets (installation, sensor calibration).
    offset = rng.normal(0, 1, 4) * np.array([0.15, 1.0, 0.08, 0.6])
    vibration = 1.5 + 2.0 * load + 7.0 * wear + offset[0] + rng.normal(0, 0.25, length)
    spikes = rng.random(length) < 0.003
    vibration[spikes] += rng.uniform(2, 5, int(spikes.sum()))
    temperature = 48 + 22 * load + 9.0 * wear + offset[1] + rng.normal(0, 0.8, length)
    pressure = 7.5 - 1.5 * load - 1.1 * wear + offset[2] + rng.normal(0, 0.06, length)
    current = 14 + 26 * load + 4.0 * wear + offset[3] + rng.normal(0, 0.5, length)
    stamps = START + pd.to_timedelta(start_hour + age, unit="h")
    return pd.DataFrame({"asset": name, "timestamp": stamps.strftime("%Y-%m-%dT%H:%M:%SZ"), "load": load * 100,
                         "vibration": vibration, "temperature": temperature, "pressure": pressure, "current": current})


def _loads(rng: np.random.Generator, length: int) -> np.ndarray:
    load = np.empty(length)
    i = 0
    while i < length:
        span = int(rng.integers(24, 60))
        load[i : i + span] = LOADS[int(rng.integers(0, len(LOADS)))]
        i += span
    return load
