"""What each console page shows, read from the store: one function per page, no HTML here.

The figures are the report's (``reports.maintenance`` ranks the fleet, ``reports.quality``
names the models in service and the drift state), so the console and the weekly report never
disagree about an asset.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import func
from sqlmodel import Session, select

from factory_ai.console.config import ConsoleSettings
from factory_ai.history.vibration import ZONE_MEANING
from factory_ai.reports import maintenance, svg
from factory_ai.reports.quality import drift_status, models_in_service
from factory_ai.reports.scope import make_scope
from factory_ai.store.assets import resolve
from factory_ai.store.tables import Asset, Inspection, Prediction, Review
from factory_ai.store.types import ensure_utc, utcnow

JUDGED = ("pass", "reject", "review")


def shift_start(now: datetime, settings: ConsoleSettings) -> datetime:
    """The start of the shift ``now`` falls in (shifts of ``shift_hours`` from ``shift_start`` UTC)."""
    hour, minute = (int(x) for x in settings.shift_start.split(":"))
    anchor = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if anchor > now:
        anchor -= timedelta(days=1)
    length = timedelta(hours=settings.shift_hours)
    return anchor + length * int((now - anchor) / length)


def line_stats(session: Session, settings: ConsoleSettings, now: datetime | None = None) -> dict[str, Any]:
    """Verdict counts and yield over the last hour and the current shift."""
    now = now or utcnow()
    out = {}
    for name, since in (("hour", now - timedelta(hours=1)), ("shift", shift_start(now, settings))):
        rows = session.exec(select(Inspection.verdict, func.count()).where(Inspection.ts >= since)
                            .group_by(Inspection.verdict)).all()
        counts = {verdict: int(n) for verdict, n in rows}
        judged = sum(counts.get(v, 0) for v in JUDGED)
        out[name] = {"since": since.isoformat(), "counts": counts, "total": sum(counts.values()),
                     "yield": counts.get("pass", 0) / judged if judged else None}
    return out


def latest_inspections(session: Session, n: int) -> list[dict[str, Any]]:
    rows = session.exec(select(Inspection, Review).join(Review, Review.inspection_id == Inspection.id, isouter=True)
                        .order_by(Inspection.id.desc()).limit(n)).all()
    return [card(i, r) for i, r in rows]


def card(i: Inspection, r: Review | None = None) -> dict[str, Any]:
    return {"id": i.id, "ts": ensure_utc(i.ts).isoformat(), "source": i.source, "line": i.line,
            "verdict": i.verdict, "label": i.label, "confidence": i.confidence, "error": i.error, "score": i.score,
            "model": f"{i.model_name} {i.model_version}", "kept": bool(i.image_path), "image_path": i.image_path,
            "flagged": bool(r and r.flagged), "reviewed": r.label if r else None}


PER_PAGE = 50  # assets per page of the fleet: a screenful or two, and sparklines for each


def fleet(session: Session, risk_alarm: float, machine_class: tuple[str, str] = maintenance.MACHINE_CLASS,
          page: int = 1, line: str | None = None, per_page: int = PER_PAGE) -> dict[str, Any]:
    """The fleet ranked as the report ranks it, one page at a time (worst first), each asset with
    sparklines of three sensors over the last 24 hours. Every asset is ranked on every request;
    only the page's assets have their trends read, which kept a thousand assets under the
    300 ms the page is allowed."""
    page = max(int(page), 1)
    scope = make_scope(since="24h", lines=[line] if line else None)
    window = slice((page - 1) * per_page, page * per_page)
    found = maintenance.gather(session, scope, risk_alarm, points=48, machine_class=machine_class, detail=window)
    rows = [{"health": p.health, "sparklines": [(name, svg.sparkline(s["mean"])) for name, s in _key_sensors(p.sensors)]}
            for p in found.pages]
    pages = max(-(-len(found.fleet) // per_page), 1)
    return {"rows": rows, "total": len(found.fleet), "line": line, "priorities": found.priorities(),
            "lines": _lines(session), "pager": {"page": page, "pages": pages, "first": window.start + 1}}


def _lines(session: Session) -> list[str]:
    return [x for x in session.exec(select(Asset.line).distinct().order_by(Asset.line)).all() if x]


def _key_sensors(sensors: dict[str, dict[str, Any]], n: int = 3) -> list[tuple[str, dict[str, Any]]]:
    """The sensors worth a sparkline: those with limits first, then the rest; flat ones (an
    operating setting held constant) last, since a straight line says nothing."""
    def order(item: tuple[str, dict[str, Any]]) -> tuple[bool, bool, str]:
        name, s = item
        values = s["mean"][np.isfinite(s["mean"])]
        flat = len(values) < 2 or float(np.ptp(values)) == 0.0
        return (flat, s["low_limit"] is None and s["high_limit"] is None, name)

    return sorted(sensors.items(), key=order)[:n]


def asset(session: Session, name: str, risk_alarm: float, days: int = 7,
          machine_class: tuple[str, str] = maintenance.MACHINE_CLASS) -> dict[str, Any] | None:
    scope = make_scope(since=f"{days}d", assets=[name])
    found = maintenance.gather(session, scope, risk_alarm, machine_class=machine_class)
    if not found.pages:
        return None
    page = found.pages[0]
    drawn = page.sensors or (page.rul is not None and len(page.rul)) or (
        page.health_scores is not None and len(page.health_scores))
    chart = svg.asset_chart(page, found.start or scope.start, scope.end) if drawn else ""
    predictions = session.exec(select(Prediction).where(Prediction.asset_id == resolve(session, [name])[name])
                               .order_by(Prediction.id.desc()).limit(20)).all()
    return {"page": page, "chart": chart, "predictions": predictions, "days": days, "zone_meaning": ZONE_MEANING}


def models(session: Session, registry, runs: list) -> dict[str, Any]:  # noqa: ANN001 - a Registry, JobRun rows
    """Models in service with their registry history, the last retrain decisions, job history."""
    from factory_ai.registry import read_card

    registered = []
    for name in registry.names():
        current = registry.current(name)
        card = {}
        if current:
            try:
                card = read_card(registry.resolve(f"{name}:{current}").path)
            except Exception:  # noqa: BLE001 - a broken card is shown as missing, the page still loads
                card = {}
        curves = bool(current) and (registry.resolve(f"{name}:{current}").path / "curves.png").is_file()
        registered.append({"name": name, "current": current, "versions": registry.versions(name),
                           "history": registry.history(name)[-5:][::-1], "family": card.get("family"),
                           "created": card.get("created_at"), "curves": curves,
                           "gate": (card.get("gate") or {}).get("sentence"),
                           "test": test_figures(card)})
    retrains = {}
    for run in runs:
        if run.job.startswith("retrain-") and run.job not in retrains and (run.detail or {}).get("decision"):
            retrains[run.job] = run
    return {"registered": registered, "in_service": models_in_service(session), "drift": drift_status(session),
            "retrains": retrains, "runs": runs}


def test_figures(card: dict[str, Any]) -> dict[str, float]:
    """The headline test figures of a model card, as its family names them."""
    from factory_ai.families import FAMILIES

    family = FAMILIES.get(str(card.get("family")))
    return family.headline(card) if family else {}
