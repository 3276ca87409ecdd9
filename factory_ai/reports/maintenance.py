"""The maintenance section: every asset ranked by risk, what to do about it and by when.

The recommended action follows the latest forecast in the period, with rules a reliability
engineer can check by hand (times in the forecast's unit, hours for store data):

- P1 "repair before failure": failure risk within the horizon at or above ``risk_alarm``, or
  the RUL interval's low end inside the horizon. Due by half the low end: act while there is
  still a margin.
- P2 "schedule maintenance": RUL's low end within twice the horizon. Due by the low end less
  one horizon, so the work lands before the risk window opens.
- P3 "monitor": nothing near. No due date.
- "check the sensors": no forecast could be made (the reason is shown). P2, due in a day: an
  asset that cannot be forecast is an asset nobody is watching.
- "inspect: <sensors>": a machine-health model's latest score of the asset is an alarm (k of
  the last n windows beyond its normal); the sensors are the ones that moved most. P2, due in
  a day, unless the forecast already asks for more.
- "check vibration: <sensor> ... ISO zone C/D": the asset's latest velocity RMS (a
  ``*_vel_rms`` sensor in mm/s, as the accelerometer mode and the bearing reader store it) is
  in ISO 10816-3 zone C (restricted operation) or D (damage) for the configured machine class
  (``[reports] iso_group``, ``iso_foundation``). P2, due in a day, when nothing above asks for
  more. The zone is shown beside the health index either way.

Assets rank by priority, then by the worse of their forecast risk and their lost health
(1 - health/100), so a machine far from its normal ranks with one likely to fail.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import ARRAY, Integer, and_, any_, cast, func, literal
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from factory_ai.history.vibration import iso_zone
from factory_ai.reports.scope import Scope, to_frame
from factory_ai.store.assets import key, repeated_names, resolve
from factory_ai.store.tables import Alert, Asset, HealthScore, Prediction, Reading, Sensor
from factory_ai.store.types import ensure_utc

RISK_ALARM = 0.5
POINTS = 240  # buckets per sensor trend: enough to see a trend, small enough for 100 assets
MIN_TREND_HOURS = 1.0  # a RUL trend from forecasts closer together than this is noise, not wear
MACHINE_CLASS = ("group2", "rigid")  # ISO 10816-3: medium machines (15-300 kW) on a rigid foundation
VELOCITY_SUFFIX = "vel_rms"  # sensors holding velocity RMS in mm/s


@dataclass
class Health:
    asset: str
    line: str | None
    rul: float | None = None
    rul_low: float | None = None
    rul_high: float | None = None
    risk: float | None = None
    horizon: float | None = None
    forecast_at: datetime | None = None
    model: str | None = None
    error: str | None = None
    trend: float | None = None  # RUL change per hour of calendar time over the period (-1: wearing as expected)
    last_alert: dict[str, Any] | None = None
    health_index: float | None = None  # the latest machine-health score: 0-100, 50 at the alarm line
    health_alarm: bool | None = None
    health_sensors: list[dict[str, Any]] | None = None  # the sensors that moved most: [{sensor, share}]
    health_at: datetime | None = None
    health_model: str | None = None
    vibration_zone: str | None = None  # ISO 10816-3 zone A-D of the highest latest velocity RMS
    vibration_mm_s: float | None = None
    vibration_sensor: str | None = None
    action: str = "no forecast in the period"
    priority: str = "P3"
    due: datetime | None = None

    def failure(self) -> tuple[datetime, tuple[datetime, datetime] | None] | None:
        """The predicted failure time (RUL counted from the forecast, in hours) and its interval."""
        if self.forecast_at is None or self.rul is None:
            return None
        at = self.forecast_at + timedelta(hours=self.rul)
        if self.rul_low is None or self.rul_high is None:
            return at, None
        return at, (self.forecast_at + timedelta(hours=self.rul_low), self.forecast_at + timedelta(hours=self.rul_high))


@dataclass
class AssetPage:
    health: Health
    sensors: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> t, mean, low, high, limits, unit
    rul: pd.DataFrame | None = None  # ts, rul, rul_low, rul_high, risk
    alerts: list[dict[str, Any]] = field(default_factory=list)
    health_scores: pd.DataFrame | None = None  # ts, health, alarm, top_sensors


@dataclass
class Maintenance:
    fleet: list[Health]
    pages: list[AssetPage]
    start: datetime | None = None  # when the period's data begin (charts start here)

    def priorities(self) -> dict[str, int]:
        return {p: sum(1 for h in self.fleet if h.priority == p) for p in ("P1", "P2", "P3")}


def gather(session: Session, scope: Scope, risk_alarm: float = RISK_ALARM, points: int = POINTS, *,
           machine_class: tuple[str, str] = MACHINE_CLASS, detail: slice | None = None) -> Maintenance:
    """Every asset in the scope, ranked, with its page of trends.

    With ``detail`` every asset is still ranked (``fleet``), but only the ranked assets in that
    slice get a page with sensor trends (``pages``): the console shows the fleet a page at a
    time, and the trends are most of the cost (a thousand assets took seconds). The ISO zone
    needs only the velocity sensors' trends, which are read for every asset either way."""
    assets = _assets(session, scope)
    if not assets:
        return Maintenance([], [])
    ids = [a.id for a in assets]
    repeated = repeated_names(session)
    alerts = _alerts(session, scope, ids)
    forecasts, latest_scores = _forecast_summaries(session, scope, ids), _latest_scores(session, scope, ids)
    start = _first_data(session, scope, ids)  # every asset's buckets start here, page or not
    sensors = _sensor_trends(session, scope, ids, start, points, only=VELOCITY_SUFFIX if detail else None)
    fleet = []
    for asset in assets:
        health = Health(key(asset.name, asset.line, repeated), asset.line)
        if asset.id in forecasts:
            _from_forecast(health, forecasts[asset.id])
        if asset.id in latest_scores:
            _from_health(health, latest_scores[asset.id])
        _vibration(health, sensors.get(asset.id, {}), machine_class)
        asset_alerts = alerts.get(asset.id, [])
        if asset_alerts:
            health.last_alert = asset_alerts[0]
        health.action, health.priority, health.due = recommend(health, scope.end, risk_alarm)
        fleet.append((health, asset.id))
    fleet.sort(key=lambda item: _rank(item[0]))
    shown = fleet[detail] if detail is not None else fleet
    wanted = [i for _, i in shown]
    if detail is not None:
        sensors = _sensor_trends(session, scope, wanted, start, points) if wanted else {}
    histories = _split(_predictions(session, scope, wanted)) if wanted else {}
    scored = _split(_health_scores(session, scope, wanted)) if wanted else {}
    pages = [AssetPage(health, sensors.get(i, {}), histories.get(i), alerts.get(i, []), scored.get(i))
             for health, i in shown]
    return Maintenance([h for h, _ in fleet], pages, start)


def recommend(h: Health, now: datetime, risk_alarm: float = RISK_ALARM) -> tuple[str, str, datetime | None]:
    action, priority, due = _from_the_forecast(h, now, risk_alarm)
    if h.health_alarm and priority != "P1":
        moved = ", ".join(s["sensor"] for s in (h.health_sensors or [])) or "the machine"
        return f"inspect: {moved}", "P2", min(due, now + timedelta(days=1)) if due else now + timedelta(days=1)
    if h.vibration_zone in ("C", "D") and priority == "P3":
        return (f"check vibration: {h.vibration_sensor} {h.vibration_mm_s:.1f} mm/s, ISO zone {h.vibration_zone}",
                "P2", now + timedelta(days=1))
    if h.forecast_at is None and (h.health_index is not None or h.vibration_zone is not None):
        return "monitor", "P3", None
    return action, priority, due


def _vibration(h: Health, sensors: dict[str, dict[str, Any]], machine_class: tuple[str, str]) -> None:
    """The worst latest velocity RMS among the asset's ``*_vel_rms`` sensors and its ISO zone
    (the latest value is the mean of the trend's last bucket)."""
    latest = []
    for name, trend in sensors.items():
        if name.endswith(VELOCITY_SUFFIX):
            values = trend["mean"][np.isfinite(trend["mean"])]
            if len(values):
                latest.append((float(values[-1]), name))
    if latest:
        h.vibration_mm_s, h.vibration_sensor = max(latest)
        h.vibration_zone = iso_zone(h.vibration_mm_s, *machine_class)


def _from_the_forecast(h: Health, now: datetime, risk_alarm: float) -> tuple[str, str, datetime | None]:
    if h.forecast_at is None:
        return "no forecast in the period", "P3", None
    if h.error or h.rul is None and h.risk is None:
        return f"check the sensors: no forecast ({h.error or 'no value'})", "P2", now + timedelta(days=1)
    horizon = h.horizon or 0.0
    low = h.rul_low if h.rul_low is not None else h.rul
    if (h.risk is not None and h.risk >= risk_alarm) or (low is not None and low <= horizon):
        return "repair before failure", "P1", now + timedelta(hours=max(low or 0.0, 0.0) / 2)
    if low is not None and low <= 2 * horizon:
        return "schedule maintenance", "P2", now + timedelta(hours=max(low - horizon, 0.0))
    return "monitor", "P3", None


def write_work_orders(fleet: list[Health], path: Path) -> Path:
    """asset, action, priority, due_by (ISO UTC), plus the figures behind the action: the columns a
    CMMS import maps. Assets that only need monitoring are left out: they are not work."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["asset", "line", "action", "priority", "due_by", "rul", "rul_low", "risk", "horizon",
                         "health"])
        for h in fleet:
            if h.priority in ("P1", "P2"):
                writer.writerow([h.asset, h.line or "", h.action, h.priority,
                                 h.due.strftime("%Y-%m-%dT%H:%M:%SZ") if h.due else "",
                                 _num(h.rul), _num(h.rul_low), _num(h.risk, 3), _num(h.horizon),
                                 _num(h.health_index, 0)])
    return path


def _num(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _rank(h: Health) -> tuple:
    order = {"P1": 0, "P2": 1, "P3": 2}[h.priority]
    lost = 1.0 - h.health_index / 100.0 if h.health_index is not None else -1.0
    worse = max(h.risk if h.risk is not None else -1.0, lost)
    return (order, -worse, h.rul if h.rul is not None else float("inf"), h.asset)


def _among(session: Session, column: Any, ids: list[int]) -> Any:
    """``column IN ids``. On PostgreSQL it is ``column = ANY(array)``: one parameter instead of
    a thousand, which the driver and the server otherwise bind and parse one by one (about a
    third of the console's fleet page at a thousand assets)."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(literal(list(ids), ARRAY(Integer)))
    return column.in_(ids)


def _assets(session: Session, scope: Scope) -> list[Any]:
    """id, name and line of every asset in the scope (rows, not ORM objects: a thousand of
    those cost more than the query)."""
    query = select(Asset.id, Asset.name, Asset.line).order_by(Asset.name, Asset.line)
    if scope.assets:
        query = query.where(Asset.id.in_(list(resolve(session, scope.assets).values())))
    if scope.lines:
        query = query.where(Asset.line.in_(scope.lines))
    return list(session.exec(query).all())


def _predictions(session: Session, scope: Scope, ids: list[int]) -> pd.DataFrame:
    rows = session.exec(select(Prediction.asset_id, Prediction.ts, Prediction.rul, Prediction.rul_low,
                               Prediction.rul_high, Prediction.risk, Prediction.horizon, Prediction.error,
                               Prediction.model_name, Prediction.model_version)
                        .where(_among(session, Prediction.asset_id, ids), Prediction.ts >= scope.start,
                               Prediction.ts <= scope.end)
                        .order_by(Prediction.asset_id, Prediction.ts)).all()
    return to_frame(rows, columns=["asset_id", "ts", "rul", "rul_low", "rul_high", "risk", "horizon", "error",
                                   "model_name", "model_version"])


def _split(frame: pd.DataFrame) -> dict[int, pd.DataFrame]:
    """The rows of each asset, from a frame sorted by asset: slices found with numpy, since a
    groupby into many small frames costs more than the query."""
    if frame.empty:
        return {}
    ids = frame["asset_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], len(ids)]
    return {int(ids[a]): frame.iloc[a:b].reset_index(drop=True) for a, b in zip(starts, ends, strict=True)}


def _rows_at(session: Session, table: Any, columns: list[Any], ids: list[int], scope: Scope,
             times: list[tuple[Any, list[Any]]]) -> list[tuple[dict[str, Any], list[Any]]]:
    """Rows of ``table`` at chosen times of each asset, with those times: ``times`` holds
    (min or max, extra conditions) pairs. Each time is one seek per asset on the (asset_id, ts)
    index, driven from the assets, so a thousand assets' week of rows never leaves the database
    (a grouped scan was 3x slower, a window function more).

    The times are picked in a derived table first, once per asset; ``OFFSET 0`` keeps the
    planner from folding it into the join. Folded (as PostgreSQL did), every candidate row
    re-ran the per-asset seeks: 1.6 s for a thousand assets' week of forecasts, not 30 ms."""
    other = aliased(table)
    picked = [select(pick(other.ts)).where(other.asset_id == Asset.id, other.ts >= scope.start,
                                           other.ts <= scope.end, *[c(other) for c in extra])
              .scalar_subquery().label(f"t{i}") for i, (pick, extra) in enumerate(times)]
    at = select(Asset.id.label("asset"), *picked).where(_among(session, Asset.id, ids)).offset(0).subquery()
    chosen = [at.c[f"t{i}"] for i in range(len(times))]
    on = [table.asset_id == at.c.asset, table.ts.in_(chosen)]
    if session.get_bind().dialect.name == "postgresql":
        # The period again on the table's own rows: the picked times are in it anyway, but
        # PostgreSQL hashes this join, and then hashes a day's rows, not the whole table. Not on
        # SQLite: there it would turn the seek per picked time into a scan of the period.
        on += [table.ts >= scope.start, table.ts <= scope.end]
    query = select(*columns, *chosen).select_from(at).join(table, and_(*on)).order_by(table.id)
    keys = [c.key for c in columns]
    return [(dict(zip(keys, row[:len(keys)], strict=True)), list(row[len(keys):])) for row in session.exec(query)]


def _forecast_summaries(session: Session, scope: Scope, ids: list[int]) -> dict[int, dict[str, Any]]:
    """Each asset's latest forecast, with ``trend``: the RUL change per hour between its first
    and last forecast with a RUL, where those are at least MIN_TREND_HOURS apart."""
    P = Prediction  # noqa: N806
    known = [lambda t: t.rul.is_not(None)]
    rows = _rows_at(session, P, [P.asset_id, P.ts, P.rul, P.rul_low, P.rul_high, P.risk, P.horizon, P.error,
                                 P.model_name, P.model_version], ids, scope,
                    [(func.max, []), (func.min, known), (func.max, known)])
    out: dict[int, dict[str, Any]] = {}
    first: dict[int, tuple[datetime, float]] = {}
    last: dict[int, tuple[datetime, float]] = {}
    for row, (newest, a, b) in rows:  # by id: among equal times, the first stored is the oldest
        asset_id, ts, rul = row["asset_id"], row["ts"], row["rul"]
        if ts == newest:
            out[asset_id] = row
        if rul is not None and ts == a:
            first.setdefault(asset_id, (ts, rul))
        if rul is not None and ts == b:
            last[asset_id] = (ts, rul)
    for asset_id, (ts, rul) in last.items():
        begin, begin_rul = first[asset_id]
        hours = (ensure_utc(ts) - ensure_utc(begin)).total_seconds() / 3600
        if hours >= MIN_TREND_HOURS:
            out[asset_id]["trend"] = float((rul - begin_rul) / hours)
    return out


def _from_forecast(h: Health, last: dict[str, Any]) -> None:
    h.forecast_at = last["ts"].to_pydatetime() if hasattr(last["ts"], "to_pydatetime") else last["ts"]
    h.model = f"{last['model_name']} {last['model_version']}"
    h.error = last["error"] if isinstance(last["error"], str) else None
    for name in ("rul", "rul_low", "rul_high", "risk", "horizon"):
        value = last[name]
        setattr(h, name, None if value is None or pd.isna(value) else float(value))
    h.trend = last.get("trend")


def _health_scores(session: Session, scope: Scope, ids: list[int]) -> pd.DataFrame:
    rows = session.exec(select(HealthScore.asset_id, HealthScore.ts, HealthScore.health, HealthScore.alarm,
                               HealthScore.top_sensors, HealthScore.model_name, HealthScore.model_version)
                        .where(_among(session, HealthScore.asset_id, ids), HealthScore.ts >= scope.start,
                               HealthScore.ts <= scope.end, HealthScore.error.is_(None))
                        .order_by(HealthScore.asset_id, HealthScore.ts)).all()
    return to_frame(rows, columns=["asset_id", "ts", "health", "alarm", "top_sensors", "model_name", "model_version"])


def _latest_scores(session: Session, scope: Scope, ids: list[int]) -> dict[int, dict[str, Any]]:
    H = HealthScore  # noqa: N806
    scored = [lambda t: t.error.is_(None)]
    rows = _rows_at(session, H, [H.asset_id, H.ts, H.health, H.alarm, H.top_sensors, H.model_name, H.model_version,
                                 H.error], ids, scope, [(func.max, scored)])
    return {row["asset_id"]: row for row, _ in rows if row["error"] is None}  # equal times: the last stored wins


def _from_health(h: Health, last: dict[str, Any]) -> None:
    h.health_at = last["ts"].to_pydatetime() if hasattr(last["ts"], "to_pydatetime") else last["ts"]
    h.health_index = None if pd.isna(last["health"]) else float(last["health"])
    h.health_alarm = bool(last["alarm"]) if last["alarm"] is not None and not pd.isna(last["alarm"]) else None
    h.health_sensors = list(last["top_sensors"] or []) if isinstance(last["top_sensors"], list) else None
    h.health_model = f"{last['model_name']} {last['model_version']}"


def _alerts(session: Session, scope: Scope, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    rows = session.exec(select(Alert.id, Alert.asset_id, Alert.severity, Alert.status, Alert.rule, Alert.message,
                               Alert.first_seen, Alert.last_seen, Alert.count)
                        .where(_among(session, Alert.asset_id, ids), Alert.last_seen >= scope.start,
                               Alert.first_seen <= scope.end).order_by(Alert.last_seen.desc())).all()
    out: dict[int, list[dict[str, Any]]] = {}
    for a in rows:
        out.setdefault(a.asset_id, []).append({"id": a.id, "severity": a.severity, "status": a.status, "rule": a.rule,
                                               "message": a.message, "first_seen": a.first_seen,
                                               "last_seen": a.last_seen, "count": a.count})
    return out


def _first_data(session: Session, scope: Scope, ids: list[int]) -> datetime:
    """When the period's data begin: the first reading or forecast in it, else the period's
    start. Charts and buckets start there, so a week's report of a store that holds one day
    draws that day across the page instead of in its last seventh."""
    first = (select(func.min(Reading.ts)).where(Reading.sensor_id == Sensor.id, Reading.ts >= scope.start,
                                                 Reading.ts <= scope.end).scalar_subquery())
    # One index seek per sensor on (sensor_id, ts): a GROUP BY would scan the whole period. The
    # minimum of those is taken in SQL too: thousands of timestamps need not come back.
    per_sensor = select(first.label("first")).where(_among(session, Sensor.asset_id, ids)).subquery()
    readings = select(func.min(per_sensor.c.first))
    forecasts = (select(func.min(Prediction.ts))
                 .where(_among(session, Prediction.asset_id, ids), Prediction.ts >= scope.start,
                        Prediction.ts <= scope.end))
    found = [t for t in (session.exec(readings).one(), session.exec(forecasts).one()) if t is not None]
    return min(found) if found else scope.start


def _sensor_trends(session: Session, scope: Scope, ids: list[int], start: datetime,
                   points: int = POINTS, only: str | None = None) -> dict[int, dict[str, dict[str, Any]]]:
    """Each sensor's readings from ``start`` to the period's end, averaged into at most
    ``points`` time buckets in SQL (a year of one-second data must not come back row by row),
    with min and max per bucket. ``only``: just the sensors whose name ends so."""
    query = select(Sensor.id, Sensor.asset_id, Sensor.name, Sensor.unit, Sensor.low_limit, Sensor.high_limit).where(
        _among(session, Sensor.asset_id, ids))
    if only:
        query = query.where(Sensor.name.endswith(only, autoescape=True))
    sensors = {s.id: s for s in session.exec(query).all()}
    if not sensors:
        return {}
    width = max((scope.end - start).total_seconds() / points, 1e-3)
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        origin = start.timestamp() / 86400 + 2440587.5  # julian day of the start
        # Readings are never before the start, so truncation is the floor.
        bucket = cast((func.julianday(Reading.ts) - origin) * 86400.0 / width, Integer)
    else:
        bucket = func.floor((func.extract("epoch", Reading.ts) - start.timestamp()) / width)
    query = (select(Reading.sensor_id, bucket.label("b"), func.avg(Reading.value), func.min(Reading.value),
                    func.max(Reading.value))
             .where(_among(session, Reading.sensor_id, list(sensors)), Reading.ts >= start, Reading.ts <= scope.end)
             .group_by(Reading.sensor_id, "b").order_by(Reading.sensor_id, "b"))
    rows = session.exec(query).all()
    out: dict[int, dict[str, dict[str, Any]]] = {}
    if not rows:
        return out
    # Columns as arrays, each sensor a slice: a pandas groupby cost more than the query.
    ids, buckets, mean, low, high = (np.asarray(column) for column in zip(*rows, strict=True))
    mean, low, high = mean.astype(float), low.astype(float), high.astype(float)
    offsets = (buckets.astype(float) + 0.5) * width
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    for a, b in zip(starts, np.r_[starts[1:], len(ids)], strict=True):
        sensor = sensors[int(ids[a])]
        out.setdefault(sensor.asset_id, {})[sensor.name] = {
            "t": np.array([start + timedelta(seconds=float(o)) for o in offsets[a:b]]), "mean": mean[a:b],
            "min": low[a:b], "max": high[a:b], "low_limit": sensor.low_limit, "high_limit": sensor.high_limit,
            "unit": sensor.unit}
    return out
