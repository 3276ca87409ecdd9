"""The quality section: how many parts, how many good, where and what the defects are, whether
the process is in control, and whether the model judging it can still be trusted.

A defect is an inspection with the verdict ``reject``. Yield is passes over judged parts
(``error`` verdicts are not parts judged; ``review`` ones are judged but not passed). The
p-chart takes one subgroup per day (per hour for periods under three days) and marks the
Western Electric rules 1-4, the same test the ``spc_p_chart`` alert rule runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import func
from sqlmodel import Session, select

from factory_ai.alerts.spc import p_chart, western_electric
from factory_ai.reports.scope import Scope, to_frame
from factory_ai.store.tables import Alert, Inspection, JobRun, ModelVersion, Review

DEFECT = "reject"


@dataclass
class Quality:
    total: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)
    yield_: float | None = None
    lines: pd.DataFrame | None = None  # line, n, defects, rate
    over_time: pd.DataFrame | None = None  # period, line, n, defects, rate
    classes_over_time: pd.DataFrame | None = None  # period x class counts of defects
    pareto: pd.DataFrame | None = None  # class, count, share, cumulative
    pchart: dict[str, Any] | None = None  # periods, n, p, center, ucl, lcl, violations
    review: dict[str, Any] = field(default_factory=dict)
    models: list[dict[str, Any]] = field(default_factory=list)
    drift: dict[str, Any] = field(default_factory=dict)
    subgroup: str = "day"


def gather(session: Session, scope: Scope) -> Quality:
    q = Quality(subgroup="day" if scope.hours >= 72 else "hour")
    counts = _counts(session, scope, q.subgroup)
    q.review = _review(session, scope)
    q.models = models_in_service(session)
    q.drift = drift_status(session)
    if counts.empty:
        return q
    q.total = int(counts["n"].sum())
    q.verdicts = {k: int(v) for k, v in counts.groupby("verdict")["n"].sum().items()}
    judged = counts[counts["verdict"] != "error"]
    judged_n = int(judged["n"].sum())
    q.yield_ = float(judged.loc[judged["verdict"] == "pass", "n"].sum() / judged_n) if judged_n else None
    judged = judged.assign(defects=judged["n"].where(judged["verdict"] == DEFECT, 0))
    q.lines = (judged.groupby("line").agg(n=("n", "sum"), defects=("defects", "sum")).reset_index()
               .assign(rate=lambda d: d["defects"] / d["n"]))
    q.over_time = (judged.groupby(["period", "line"]).agg(n=("n", "sum"), defects=("defects", "sum"))
                   .reset_index().assign(rate=lambda d: d["defects"] / d["n"]))
    defects = judged[judged["verdict"] == DEFECT].assign(label=lambda d: d["label"].fillna("unknown"))
    if len(defects):
        q.classes_over_time = defects.groupby(["period", "label"])["n"].sum().unstack(fill_value=0)
        by_class = defects.groupby("label")["n"].sum().sort_values(ascending=False, kind="stable")
        q.pareto = pd.DataFrame({"class": by_class.index, "count": by_class.to_numpy()}).assign(
            share=lambda d: d["count"] / d["count"].sum(), cumulative=lambda d: d["share"].cumsum())
    per_period = judged.groupby("period").agg(n=("n", "sum"), defects=("defects", "sum")).reset_index()
    chart = p_chart(per_period["defects"].to_numpy(float), per_period["n"].to_numpy(float))
    q.pchart = {"periods": list(per_period["period"].dt.to_pydatetime()), "n": chart.n, "p": chart.p,
                "center": chart.center, "ucl": chart.upper, "lcl": chart.lower,
                "violations": [{"rule": v.rule, "index": v.index, "what": v.describe(),
                                "period": per_period["period"].iloc[v.index].to_pydatetime()}
                               for v in western_electric(chart.z)]}
    return q


def _counts(session: Session, scope: Scope, subgroup: str) -> pd.DataFrame:
    """Inspections counted per (period, line, verdict, label) in SQL: a million parts come back as
    a few thousand rows, not a million. ``period`` is the UTC hour or day the part was judged in."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":  # UTCDateTime stores "YYYY-MM-DD HH:MM:SS.ffffff" in UTC
        period = func.strftime("%Y-%m-%d 00:00:00" if subgroup == "day" else "%Y-%m-%d %H:00:00", Inspection.ts)
    else:
        period = func.date_trunc(subgroup, func.timezone("UTC", Inspection.ts))
    query = (select(period.label("period"), Inspection.line, Inspection.verdict, Inspection.label,
                    func.count().label("n"))
             .where(Inspection.ts >= scope.start, Inspection.ts <= scope.end)
             .group_by("period", Inspection.line, Inspection.verdict, Inspection.label))
    if scope.lines:
        query = query.where(Inspection.line.in_(scope.lines))
    frame = to_frame(session.exec(query).all(), columns=["period", "line", "verdict", "label", "n"])
    if frame.empty:
        return frame
    frame["period"] = pd.to_datetime(frame["period"], utc=True)
    frame["line"] = frame["line"].fillna("-")
    return frame


def _review(session: Session, scope: Scope) -> dict[str, Any]:
    from factory_ai import review

    waiting = review.waiting(session)
    labelled = session.exec(select(func.count()).select_from(Review).where(
        Review.labelled_at >= scope.start, Review.labelled_at <= scope.end)).one()
    flagged = session.exec(select(func.count()).select_from(Review).where(
        Review.flagged.is_(True), Review.created_at >= scope.start, Review.created_at <= scope.end)).one()
    pairs = session.exec(select(Inspection.label, Review.label).join(Review, Review.inspection_id == Inspection.id)
                         .where(Review.labelled_at >= scope.start, Review.labelled_at <= scope.end,
                                Review.label.is_not(None))).all()
    agree = sum(1 for model, person in pairs if model == person)
    return {"waiting": waiting, "labelled": int(labelled), "flagged": int(flagged),
            "model_agreed": agree, "compared": len(pairs),
            "agreement": agree / len(pairs) if pairs else None}


def models_in_service(session: Session) -> list[dict[str, Any]]:
    """The models in service with their family's headline test figures (from the stored card metrics)."""
    from factory_ai.families import FAMILIES

    out = []
    for m in session.exec(select(ModelVersion).where(ModelVersion.status == "current").order_by(ModelVersion.name)):
        family = FAMILIES.get(m.family)
        figures = family.headline({"metrics": m.metrics or {}}) if family else {}
        out.append({"name": m.name, "version": m.version, "family": m.family,
                    "title": family.title if family else m.family, "promoted_at": m.promoted_at, "figures": figures})
    return out


def drift_status(session: Session) -> dict[str, Any]:
    run = session.exec(select(JobRun).where(JobRun.job == "drift").order_by(JobRun.started_at.desc())).first()
    open_alerts = session.exec(select(Alert).where(Alert.rule == "drift", Alert.status != "resolved")).all()
    return {"last_check": run.started_at if run else None, "status": run.status if run else None,
            "detail": (run.detail or {}) if run else {}, "error": run.error if run else None,
            "open": [a.message for a in open_alerts]}
