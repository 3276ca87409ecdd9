"""Readers that turn files into a :class:`~factory_ai.history.frame.History`.

- ``cmapss``: NASA C-MAPSS text files (unit, cycle, 3 settings, 21 sensors, whitespace,
  trailing spaces). A ``train_*`` file is run to failure (each unit's last cycle is its
  failure); a ``test_*`` file takes its true remaining life from the ``RUL_*`` file beside it.
- ``csv`` / ``parquet``: a plant export, wide (one column per sensor) or long (columns
  ``sensor`` and ``value``), with asset and time columns (cycles or timestamps). Failure and
  maintenance events come from an events file (asset, time, kind) or ``run_to_failure``.
- ``ai4i``: the AI4I 2020 table, one independent snapshot per row with a failure label. The
  five failure-mode flags are never features: they spell out the label.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from factory_ai.errors import DataError
from factory_ai.history.frame import ASSET, TIME, History, build, to_hours

FORMATS = ("auto", "cmapss", "csv", "parquet", "ai4i", "femto")
CMAPSS_SETTINGS = [f"setting_{i}" for i in range(1, 4)]
CMAPSS_SENSORS = [f"sensor_{i}" for i in range(1, 22)]
FEMTO_RATE_HZ = 25_600.0
TIME_COLUMNS = ("timestamp", "datetime", "Timestamp", "DateTime", "date_time")
AI4I_LABEL = "Machine failure"
AI4I_LEAKS = ["TWF", "HDF", "PWF", "OSF", "RNF"]
AI4I_NUMERIC = ["Air temperature [K]", "Process temperature [K]", "Rotational speed [rpm]", "Torque [Nm]",
                "Tool wear [min]"]


def detect_format(path: Path) -> str:
    name = path.name.lower()
    if path.is_dir() and any(path.glob("acc_*.csv")):
        return "femto"
    if path.suffix.lower() == ".parquet":
        return "parquet"
    if path.suffix.lower() == ".txt" and ("fd00" in name or name.startswith(("train_", "test_"))):
        return "cmapss"
    if path.suffix.lower() == ".csv":
        head = path.read_text(encoding="utf-8-sig", errors="replace")[:400]
        return "ai4i" if AI4I_LABEL in head and "Product ID" in head else "csv"
    raise DataError(f"{path}: cannot tell the format from the name; give --format cmapss|csv|parquet|ai4i")


def read(
    path: Path,
    fmt: str = "auto",
    *,
    asset_col: str = "asset",
    time_col: str = "time",
    settings: list[str] | None = None,
    events: Path | None = None,
    run_to_failure: bool | None = None,
) -> tuple[History, list[str]]:
    """Read ``path``; return the history and notes (fixes made, things to know)."""
    path = Path(path)
    if not path.is_file() and not (path.is_dir() and fmt in ("auto", "femto")):
        raise DataError(f"{path}: file not found")
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "femto":
        history, notes = read_femto(path)
        if run_to_failure:
            history.failures = {a: [float(g[TIME].iloc[-1])] for a, g in history.per_asset().items()}
        return history, notes
    if fmt == "cmapss":
        return read_cmapss(path, run_to_failure=run_to_failure)
    if fmt == "ai4i":
        return read_ai4i(path), []
    if fmt in ("csv", "parquet"):
        history, notes = read_table(path, fmt, asset_col=asset_col, time_col=time_col, settings=settings)
        if events is not None:
            add_events(history, read_events(events, history.time_unit))
        elif run_to_failure:
            history.failures = {a: [float(g[TIME].iloc[-1])] for a, g in history.per_asset().items()}
        return history, notes
    raise DataError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def read_femto(folder: Path) -> tuple[History, list[str]]:
    """A FEMTO/PRONOSTIA bearing folder: one row of vibration features per ``acc_*.csv`` snapshot.

    Each snapshot is 0.1 s of 25.6 kHz acceleration (horizontal and vertical, in g), taken
    every 10 s. Raw samples are far too dense for a readings table, so each snapshot becomes
    the features of :mod:`factory_ai.history.vibration` per axis (RMS, peak, crest factor,
    kurtosis, band RMS, velocity RMS). Time counts snapshots (one cycle = 10 s: replay with
    ``cycle_seconds = 10``). The asset is the folder's name.
    """
    from factory_ai.history.vibration import snapshot_features

    files = sorted(Path(folder).glob("acc_*.csv"))
    if not files:
        raise DataError(f"{folder}: no acc_*.csv snapshots (a FEMTO/PRONOSTIA bearing folder)")
    rows, notes = [], []
    for i, path in enumerate(files, start=1):
        try:
            samples = pd.read_csv(path, header=None, usecols=[4, 5]).to_numpy(np.float64)
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            notes.append(f"{path.name} skipped: {exc}")
            continue
        rows.append({ASSET: Path(folder).name, TIME: float(i), **snapshot_features(samples, FEMTO_RATE_HZ)})
    frame = pd.DataFrame(rows)
    history, build_notes = build(frame, asset=ASSET, time=TIME, time_unit="cycle")
    return history, [f"{len(rows)} snapshots of {Path(folder).name} as vibration features", *notes, *build_notes]


def read_cmapss(path: Path, *, run_to_failure: bool | None = None) -> tuple[History, list[str]]:
    try:
        raw = pd.read_csv(path, sep=r"\s+", header=None)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a C-MAPSS file ({exc})") from None
    if raw.shape[1] != 26:
        raise DataError(f"{path}: C-MAPSS files have 26 columns (unit, cycle, 3 settings, 21 sensors); found {raw.shape[1]}")
    raw.columns = ["unit", "cycle", *CMAPSS_SETTINGS, *CMAPSS_SENSORS]
    history, notes = build(raw, asset="unit", time="cycle", sensors=CMAPSS_SENSORS, settings=CMAPSS_SETTINGS,
                           time_unit="cycle")
    name = path.name
    if run_to_failure if run_to_failure is not None else name.lower().startswith("train"):
        history.failures = {a: [float(g[TIME].iloc[-1])] for a, g in history.per_asset().items()}
    rul_file = path.with_name(name.replace("test_", "RUL_", 1)) if name.startswith("test_") else None
    if rul_file is not None and rul_file.is_file():
        truth = pd.read_csv(rul_file, sep=r"\s+", header=None)[0].to_numpy(dtype=np.float64)
        assets = history.assets()
        if len(truth) != len(assets):
            raise DataError(f"{rul_file}: {len(truth)} values for {len(assets)} units in {path.name}")
        # RUL rows follow unit numbers 1..N; the history keeps file order, which is the same.
        units = sorted(assets, key=lambda a: float(a))
        history.true_rul = dict(zip(units, truth.tolist(), strict=True))
        notes.append(f"true remaining life from {rul_file.name}")
    return history, notes


def _separator(path: Path) -> str:
    """``;`` where the header holds more of them than commas (European spreadsheet exports)."""
    with path.open(encoding="utf-8-sig", errors="replace") as handle:
        header = handle.readline()
    return ";" if header.count(";") > header.count(",") else ","


def read_table(
    path: Path, fmt: str, *, asset_col: str, time_col: str, settings: list[str] | None
) -> tuple[History, list[str]]:
    try:
        frame = pd.read_parquet(path) if fmt == "parquet" else pd.read_csv(path, encoding="utf-8-sig",
                                                                          sep=_separator(path))
    except Exception as exc:  # pandas raises many types for a broken file
        raise DataError(f"{path}: cannot read as {fmt} ({exc})") from None
    notes = []
    # Plant exports vary: a time column called timestamp or datetime, and a file per machine
    # with no asset column at all. Defaults adapt; a column asked for by name must exist.
    if time_col == "time" and "time" not in frame.columns:
        time_col = next((c for c in TIME_COLUMNS if c in frame.columns), time_col)
    if asset_col == "asset" and "asset" not in frame.columns:
        frame = frame.assign(asset=path.stem)
        notes.append(f"no asset column: every row is asset {path.stem!r} (named after the file)")
    if {"sensor", "value"} <= set(frame.columns):
        frame, long_notes = _long_to_wide(frame, asset_col, time_col, path)
        notes += long_notes
    try:
        history, build_notes = build(frame, asset=asset_col, time=time_col, settings=settings)
    except (KeyError, ValueError) as exc:
        raise DataError(f"{path}: {exc.args[0]}") from None
    return history, notes + build_notes


def _long_to_wide(frame: pd.DataFrame, asset_col: str, time_col: str, path: Path) -> tuple[pd.DataFrame, list[str]]:
    missing = [c for c in (asset_col, time_col) if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing columns: {', '.join(missing)}")
    keys = [asset_col, time_col, "sensor"]
    notes = []
    dup = frame.duplicated(keys, keep="first")
    if dup.any():
        notes.append(f"{int(dup.sum())} repeated (asset, time, sensor) readings; the first of each kept")
        frame = frame[~dup]
    wide = frame.pivot(index=[asset_col, time_col], columns="sensor", values="value").reset_index()
    wide.columns.name = None
    return wide, notes


def read_events(path: Path, time_unit: str) -> pd.DataFrame:
    """Events file: columns asset, time, kind (failure or maintenance)."""
    try:
        events = pd.read_csv(path, encoding="utf-8-sig")
    except Exception as exc:
        raise DataError(f"{path}: cannot read events ({exc})") from None
    missing = [c for c in ("asset", "time", "kind") if c not in events.columns]
    if missing:
        raise DataError(f"{path}: events need columns asset, time, kind; missing {', '.join(missing)}")
    kinds = set(events["kind"].str.lower()) - {"failure", "maintenance"}
    if kinds:
        raise DataError(f"{path}: unknown event kinds {sorted(kinds)}; use failure or maintenance")
    out = pd.DataFrame({"asset": events["asset"].astype(str), "kind": events["kind"].str.lower()})
    if time_unit == "hour":
        stamps = pd.to_datetime(events["time"], utc=True, errors="coerce")
        out["time"] = to_hours(stamps)
    else:
        out["time"] = pd.to_numeric(events["time"], errors="coerce")
    if out["time"].isna().any():
        raise DataError(f"{path}: {int(out['time'].isna().sum())} event times are unreadable")
    return out


def add_events(history: History, events: pd.DataFrame) -> None:
    for kind, target in (("failure", history.failures), ("maintenance", history.maintenance)):
        for asset, group in events[events["kind"] == kind].groupby("asset"):
            target[str(asset)] = sorted(group["time"].astype(float).tolist())


def read_ai4i(path: Path) -> History:
    frame = pd.read_csv(path, encoding="utf-8-sig")
    missing = [c for c in ["UDI", "Product ID", "Type", AI4I_LABEL, *AI4I_NUMERIC] if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: not the AI4I 2020 table; missing {', '.join(missing)}")
    table = frame[["Product ID", "UDI", *AI4I_NUMERIC]].copy()
    for variant in ("L", "M", "H"):  # product quality variant, one-hot
        table[f"type_{variant}"] = (frame["Type"] == variant).astype(np.float64)
    sensors = [*AI4I_NUMERIC, "type_L", "type_M", "type_H"]
    history, _ = build(table, asset="Product ID", time="UDI", sensors=sensors, time_unit="cycle")
    order = frame.set_index("Product ID").loc[history.frame[ASSET], AI4I_LABEL].to_numpy()
    history.labels = order.astype(np.int64)
    return history


def read_store(store, assets: list[str] | None = None, since: datetime | None = None,  # noqa: ANN001
               events: bool = False) -> tuple[History, list[str]]:
    """Sensor history from the store's readings (timestamps, so the time unit is hours);
    ``since`` keeps only newer readings (the daemon scores from a bounded lookback); ``events``
    attaches the recorded failures and maintenance (``factory-ai events``) that end the runs."""
    from sqlmodel import select

    from factory_ai.store.assets import keys_by_id, resolve
    from factory_ai.store.tables import Event, Reading, Sensor

    query = (select(Sensor.asset_id, Sensor.name, Reading.ts, Reading.value)
             .join(Reading, Reading.sensor_id == Sensor.id))
    if since is not None:
        query = query.where(Reading.ts >= since)
    with store.session() as session:
        if assets:
            query = query.where(Sensor.asset_id.in_(list(resolve(session, assets).values())))
        found = session.exec(query).all()
        keys = keys_by_id(session)  # after the rows: an asset created meanwhile is among them
        rows = [(keys[asset_id], *rest) for asset_id, *rest in found]
    if not rows:
        raise DataError(f"no readings in {store.where}" + (f" for {', '.join(assets)}" if assets else "")
                        + (f" since {since.isoformat()}" if since is not None else ""))
    frame = pd.DataFrame(rows, columns=["asset", "sensor", "time", "value"])
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    wide, notes = _long_to_wide(frame, "asset", "time", Path(store.where))
    history, build_notes = build(wide, asset="asset", time="time", time_unit="hour")
    if events:
        with store.session() as session:
            found = session.exec(select(Event.asset_id, Event.kind, Event.ts)).all()
            keys = keys_by_id(session)
            recorded = [(keys[asset_id], kind, ts) for asset_id, kind, ts in found]
        table = pd.DataFrame(recorded, columns=["asset", "kind", "time"])
        add_events(history, table.assign(time=to_hours(pd.to_datetime(table["time"], utc=True))))
    return history, notes + build_notes
