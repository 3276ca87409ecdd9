"""The report's words and table rows, shared by every format: the HTML, the Markdown and the
PDF say the same thing in the same words, so a number checked in one is checked in all."""

from __future__ import annotations

from datetime import datetime

from factory_ai.reports.build import Report
from factory_ai.reports.maintenance import Health

NO_FORECASTS = "no forecasts in the period (is [daemon] forecast_model set and the score job running?)"


def number(value: float | None, fmt: str = ".1f") -> str:
    return "–" if value is None else format(value, fmt)


def stamp(value: datetime | None) -> str:
    return "–" if value is None else f"{value:%Y-%m-%d %H:%M}"


def pages_note(report: Report) -> str | None:
    """Says whose charts follow when not every asset has a section (``[reports] asset_pages``)."""
    m = report.maintenance
    if len(m.pages) >= len(m.fleet):
        return None
    return (f"Charts follow for the {len(m.pages)} worst-ranked of the {len(m.fleet)} assets "
            f"([reports] asset_pages); the table above lists every asset.")


def trend(h: Health) -> str:
    """Hours of RUL gained (+) or lost (-) per hour on the clock. An asset wearing as forecast
    loses one hour per hour; losing more means wear is speeding up."""
    if h.trend is None:
        return "–"
    pace = "faster wear" if h.trend < -1.5 else "slower wear" if h.trend > -0.5 else "as expected"
    return f"{h.trend:+.2f} h/h, {pace}"


TREND_NOTE = ("RUL trend: hours of remaining life lost (-) or gained (+) per hour of the period; "
              "-1 h/h is wear at the forecast pace, below -1.5 is faster wear, above -0.5 slower wear or a repair; "
              "none when the period's forecasts span less than an hour.")


def fleet_rows(report: Report) -> list[list[str]]:
    rows = []
    for h in report.maintenance.fleet:
        interval = f"{number(h.rul)} [{number(h.rul_low)}, {number(h.rul_high)}]" if h.rul is not None else (h.error or "–")
        alert = f"{h.last_alert['severity']}: {h.last_alert['message']}" if h.last_alert else "–"
        rows.append([h.asset, h.line or "–", interval, number(h.risk, ".1%") if h.risk is not None else "–",
                     health(h), trend(h), alert, h.action, h.priority, stamp(h.due)])
    return rows


FLEET_HEADER = ["asset", "line", "RUL h [80 % interval]", "risk", "health", "RUL trend", "last alert", "action", "priority",
                "due by"]


def health(h: Health) -> str:
    """The machine-health index (100 normal, 50 the alarm line), marked when it alarms, and the
    ISO 10816-3 vibration zone beside it where the asset has a velocity RMS sensor."""
    zone = f"ISO {h.vibration_zone} ({h.vibration_mm_s:.1f} mm/s)" if h.vibration_zone else ""
    if h.health_index is None:
        return zone or "–"
    return f"{h.health_index:.0f}" + (" ALARM" if h.health_alarm else "") + (f", {zone}" if zone else "")


def quality_summary(report: Report) -> list[tuple[str, str]]:
    q = report.quality
    if not q.total:
        return []
    verdicts = ", ".join(f"{k} {v}" for k, v in sorted(q.verdicts.items()))
    out = [("inspections", f"{q.total}"), ("verdicts", verdicts), ("yield", number(q.yield_, ".2%"))]
    if q.pchart is not None:
        violations = q.pchart["violations"]
        out.append(("p-chart", f"centre {q.pchart['center']:.2%}; " + (
            f"{len(violations)} rule violations" if violations else "in control (no Western Electric violation)")))
    return out


def review_lines(report: Report) -> list[tuple[str, str]]:
    r = report.quality.review
    agreement = "–" if r.get("agreement") is None else f"{r['agreement']:.1%} of {r['compared']}"
    return [("waiting in the queue", str(r.get("waiting", 0))), ("labelled in the period", str(r.get("labelled", 0))),
            ("flagged in the period", str(r.get("flagged", 0))), ("model agreed with the reviewer", agreement)]


def model_lines(report: Report) -> list[tuple[str, str]]:
    out = []
    for m in report.quality.models:
        figures = list(m.get("figures", {}).items())[:3]
        figure = ("test " + ", ".join(f"{name} {_figure(name, value)}" for name, value in figures)
                  if figures else "no test figure")
        out.append((f"{m['name']} {m['version']}", f"{m['family']}; {figure}; in service since {stamp(m['promoted_at'])}"))
    return out


def _figure(name: str, value: float) -> str:
    """Shares as percentages, other figures as numbers."""
    return f"{value:.1%}" if any(w in name for w in ("accuracy", "rate", "coverage")) else f"{value:.3g}"


def drift_line(report: Report) -> str:
    d = report.quality.drift
    if not d.get("last_check"):
        return "no drift check has run (scheduler job drift)"
    state = f"last check {stamp(d['last_check'])} UTC: {d['status']}"
    if d.get("error"):
        state += f" ({d['error']})"
    return state + ("; drifting: " + "; ".join(d["open"]) if d["open"] else "; nothing drifting")
