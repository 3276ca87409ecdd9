"""Alert rules: read the store (and the daemon's connector states), return what is wrong now.

Why findings and not alerts: a rule only says "this condition holds, under this key"; the
engine decides whether that is a new alert, a repeat of an open one (count + 1), or, by its
absence, the end of one (auto-resolve). Keys name the rule and the thing it is about, so one
pump's low RUL never merges with another's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import func
from sqlmodel import Session, select

from factory_ai.alerts import config as c
from factory_ai.alerts.spc import p_chart, western_electric
from factory_ai.store.assets import keys_by_id
from factory_ai.store.tables import Asset, HealthScore, Inspection, JobRun, Prediction, Reading, Sensor
from factory_ai.store.types import ensure_utc


@dataclass(frozen=True)
class Finding:
    key: str
    rule: str
    severity: str
    message: str
    asset_id: int | None = None
    line: str | None = None


@dataclass
class Context:
    """What rules may look at. ``connectors`` is None outside the daemon (nothing to judge)."""

    session: Session
    now: datetime
    connectors: Mapping[str, Mapping[str, Any]] | None = None
    _latest: dict[int, tuple[datetime, float]] | None = field(default=None, repr=False)
    _keys: dict[int, str] | None = field(default=None, repr=False)

    def key(self, asset_id: int) -> str:
        """The asset's key (``line/name`` where its name repeats), cached for this evaluation."""
        if self._keys is None or asset_id not in self._keys:
            self._keys = keys_by_id(self.session)
        return self._keys[asset_id]

    def latest_readings(self) -> dict[int, tuple[datetime, float]]:
        """Each sensor's newest reading (one index seek per sensor), cached for this evaluation."""
        if self._latest is None:
            self._latest = {}
            for sensor_id in self.session.exec(select(Sensor.id)).all():
                row = self.session.exec(select(Reading.ts, Reading.value).where(Reading.sensor_id == sensor_id)
                                        .order_by(Reading.ts.desc()).limit(1)).first()
                if row is not None:
                    self._latest[sensor_id] = (ensure_utc(row[0]), row[1])
        return self._latest


def evaluate(rules: list, ctx: Context) -> tuple[list[Finding], set[str]]:
    """Run every enabled rule; return the findings and the names of the rules that could judge
    (a rule that could not, such as connector_down outside the daemon, resolves nothing)."""
    findings: list[Finding] = []
    judged: set[str] = set()
    for rule in rules:
        if not rule.enabled:
            continue
        found = _EVALUATORS[rule.kind](rule, ctx)
        if found is None:
            continue
        judged.add(rule.name)
        findings.extend(found)
    return findings, judged


def _latest_predictions(ctx: Context) -> list[tuple[Prediction, str, str | None]]:
    newest = (select(func.max(Prediction.id)).where(Prediction.error.is_(None)).group_by(Prediction.asset_id))
    rows = ctx.session.exec(select(Prediction, Asset.line).join(Asset, Asset.id == Prediction.asset_id)
                            .where(Prediction.id.in_(newest))).all()
    return [(p, ctx.key(p.asset_id), line) for p, line in rows]


def _rul_below(rule: c.RulBelow, ctx: Context) -> list[Finding]:
    out = []
    for p, asset, line in _latest_predictions(ctx):
        if p.rul is not None and p.rul < rule.threshold:
            interval = f" (interval {p.rul_low:.0f} to {p.rul_high:.0f})" if p.rul_low is not None else ""
            out.append(Finding(f"{rule.name}:asset:{p.asset_id}", rule.name, rule.severity,
                               f"{asset}: remaining useful life {p.rul:.0f}{interval}, below {rule.threshold:g} "
                               f"(model {p.model_name} {p.model_version})", p.asset_id, line))
    return out


def _risk_above(rule: c.RiskAbove, ctx: Context) -> list[Finding]:
    out = []
    for p, asset, line in _latest_predictions(ctx):
        if p.risk is not None and p.risk > rule.threshold:
            horizon = f" within {p.horizon:g}" if p.horizon is not None else ""
            out.append(Finding(f"{rule.name}:asset:{p.asset_id}", rule.name, rule.severity,
                               f"{asset}: failure risk {p.risk:.0%}{horizon}, above {rule.threshold:.0%} "
                               f"(model {p.model_name} {p.model_version})", p.asset_id, line))
    return out


def _health_below(rule: c.HealthBelow, ctx: Context) -> list[Finding]:
    out = []
    assets = ctx.session.exec(select(HealthScore.asset_id).where(HealthScore.error.is_(None)).distinct()).all()
    for asset_id in assets:
        recent = ctx.session.exec(select(HealthScore).where(HealthScore.asset_id == asset_id,
                                                            HealthScore.error.is_(None))
                                  .order_by(HealthScore.id.desc()).limit(rule.consecutive)).all()
        if len(recent) < rule.consecutive or any(r.health is None or r.health >= rule.threshold for r in recent):
            continue
        latest = recent[0]
        name, line = ctx.key(asset_id), ctx.session.exec(select(Asset.line).where(Asset.id == asset_id)).one()
        moved = ", ".join(f"{s['sensor']} {s['share']:.0%}" for s in (latest.top_sensors or []))
        out.append(Finding(f"{rule.name}:asset:{asset_id}", rule.name, rule.severity,
                           f"{name}: health {latest.health:.0f}, below {rule.threshold:g} for {rule.consecutive} "
                           f"scores; inspect: {moved or 'no sensor named'} (model {latest.model_name} "
                           f"{latest.model_version})", asset_id, line))
    return out


def _judged(ctx: Context, since: datetime) -> list[tuple[datetime, str | None, str]]:
    rows = ctx.session.exec(select(Inspection.ts, Inspection.line, Inspection.verdict)
                            .where(Inspection.ts >= since, Inspection.ts <= ctx.now,
                                   Inspection.verdict != "error")).all()
    return [(ensure_utc(ts), line, verdict) for ts, line, verdict in rows]


def _defect_rate(rule: c.DefectRate, ctx: Context) -> list[Finding]:
    counts: dict[str | None, list[int]] = {}
    for _, line, verdict in _judged(ctx, ctx.now - timedelta(minutes=rule.window_minutes)):
        total = counts.setdefault(line, [0, 0])
        total[0] += 1
        total[1] += verdict not in rule.good_verdicts
    out = []
    for line, (n, bad) in counts.items():
        rate = 100.0 * bad / n
        if n >= rule.min_inspections and rate > rule.percent:
            out.append(Finding(f"{rule.name}:line:{line or '-'}", rule.name, rule.severity,
                               f"line {line or '(none)'}: {rate:.1f} % of {n} parts not passed in the last "
                               f"{rule.window_minutes:g} min (limit {rule.percent:g} %)", None, line))
    return out


def _spc(rule: c.SpcPChart, ctx: Context) -> list[Finding]:
    width = timedelta(minutes=rule.subgroup_minutes)
    groups = rule.baseline_subgroups + rule.checked_subgroups
    start = ctx.now - groups * width
    sizes: dict[str | None, np.ndarray] = {}
    defects: dict[str | None, np.ndarray] = {}
    for ts, line, verdict in _judged(ctx, start):
        index = min(groups - 1, int((ts - start) / width))
        sizes.setdefault(line, np.zeros(groups))[index] += 1
        defects.setdefault(line, np.zeros(groups))[index] += verdict not in rule.good_verdicts
    out = []
    for line, n in sizes.items():
        kept = n >= rule.min_subgroup
        base = kept[:rule.baseline_subgroups]
        if rule.center is None and base.sum() < 4:
            continue  # no stable history to judge against yet
        center = rule.center
        if center is None:
            center = float(defects[line][:rule.baseline_subgroups][base].sum() / n[:rule.baseline_subgroups][base].sum())
            center = min(max(center, 1e-6), 1 - 1e-6)
        chart = p_chart(defects[line][kept], n[kept], center)
        first_checked = int(base.sum())
        for violation in western_electric(chart.z, tuple(rule.rules), start=first_checked):
            out.append(Finding(f"{rule.name}:line:{line or '-'}:we{violation.rule}", rule.name, rule.severity,
                               f"line {line or '(none)'}: defect p-chart, Western Electric rule {violation.rule}: "
                               f"{violation.describe()} (centre {center:.1%}, latest {chart.p[-1]:.1%} of "
                               f"{int(chart.n[-1])})", None, line))
    # One finding per (line, rule number): the latest violation stands for the pattern.
    return list({f.key: f for f in out}.values())


def _sensors(ctx: Context, names: list[str]) -> list[tuple[Sensor, str, str | None]]:
    query = select(Sensor, Asset.line).join(Asset, Asset.id == Sensor.asset_id)
    if names:
        query = query.where(Sensor.name.in_(names))
    return [(sensor, ctx.key(sensor.asset_id), line) for sensor, line in ctx.session.exec(query).all()]


def _sensor_range(rule: c.SensorRange, ctx: Context) -> list[Finding]:
    latest = ctx.latest_readings()
    out = []
    for sensor, asset, line in _sensors(ctx, rule.sensors):
        low = rule.low if rule.low is not None else sensor.low_limit
        high = rule.high if rule.high is not None else sensor.high_limit
        if sensor.id not in latest or (low is None and high is None):
            continue
        ts, value = latest[sensor.id]
        if (low is not None and value < low) or (high is not None and value > high):
            limits = f"{'-inf' if low is None else f'{low:g}'} to {'inf' if high is None else f'{high:g}'}"
            out.append(Finding(f"{rule.name}:sensor:{sensor.id}", rule.name, rule.severity,
                               f"{asset}/{sensor.name} = {value:g}{' ' + sensor.unit if sensor.unit else ''} at "
                               f"{ts:%Y-%m-%d %H:%M:%S}Z, outside {limits}", sensor.asset_id, line))
    return out


def _sensor_stale(rule: c.SensorStale, ctx: Context) -> list[Finding]:
    latest = ctx.latest_readings()
    limit = timedelta(minutes=rule.max_age_minutes)
    out = []
    for sensor, asset, line in _sensors(ctx, rule.sensors):
        seen = latest.get(sensor.id, (ensure_utc(sensor.created_at), None))[0]
        if ctx.now - seen > limit:
            age = (ctx.now - seen).total_seconds() / 60
            what = "nothing since it was created" if sensor.id not in latest else "no reading"
            out.append(Finding(f"{rule.name}:sensor:{sensor.id}", rule.name, rule.severity,
                               f"{asset}/{sensor.name}: {what} for {age:.0f} min (limit {rule.max_age_minutes:g})",
                               sensor.asset_id, line))
    return out


def _connector_down(rule: c.ConnectorDown, ctx: Context) -> list[Finding] | None:
    if ctx.connectors is None:
        return None
    out = []
    for name, state in ctx.connectors.items():
        if rule.connectors and name not in rule.connectors:
            continue
        if not state.get("up") and not state.get("detail", {}).get("finished"):
            reason = state.get("last_error") or "not connected"
            out.append(Finding(f"{rule.name}:connector:{name}", rule.name, rule.severity,
                               f"connector {name} ({state.get('kind', '?')}) is down: {reason}"))
            continue
        for part in state.get("parts_down") or ():
            out.append(Finding(f"{rule.name}:connector:{name}:{part['what']}", rule.name, rule.severity,
                               f"connector {name}: {part['what']} is down: {part['reason']}"))
    return out


def _job_failed(rule: c.JobFailed, ctx: Context) -> list[Finding]:
    newest = select(func.max(JobRun.id)).where(JobRun.status != "running").group_by(JobRun.job)
    out = []
    for run in ctx.session.exec(select(JobRun).where(JobRun.id.in_(newest))).all():
        if run.status == "failed" and (not rule.jobs or run.job in rule.jobs):
            out.append(Finding(f"{rule.name}:job:{run.job}", rule.name, rule.severity,
                               f"job {run.job} failed at {ensure_utc(run.started_at):%Y-%m-%d %H:%M:%S}Z: "
                               f"{(run.error or 'no reason recorded').splitlines()[0]}"))
    return out


_EVALUATORS: dict[str, Callable[[Any, Context], list[Finding] | None]] = {
    "rul_below": _rul_below,
    "health_below": _health_below,
    "risk_above": _risk_above,
    "defect_rate": _defect_rate,
    "spc_p_chart": _spc,
    "sensor_range": _sensor_range,
    "sensor_stale": _sensor_stale,
    "connector_down": _connector_down,
    "job_failed": _job_failed,
}
