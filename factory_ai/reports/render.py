"""Writing a report: self-contained HTML (plots inline: PNG data and SVG), PDF pages, or Markdown.

HTML is the one to read on screen and to mail as an attachment: no file beside it, no script,
no network. PDF is for printing and the plant's document system. Markdown carries the tables
and the decisions (not the plots) into e-mail bodies and chat.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable
from pathlib import Path

from factory_ai.history.vibration import ZONE_MEANING
from factory_ai.reports import plots, svg
from factory_ai.reports.build import Report
from factory_ai.reports.maintenance import AssetPage
from factory_ai.reports.pdf import pdf
from factory_ai.reports.text import (
    FLEET_HEADER,
    NO_FORECASTS,
    TREND_NOTE,
    drift_line,
    fleet_rows,
    model_lines,
    pages_note,
    quality_summary,
    review_lines,
    stamp,
)

FORMATS = ("html", "pdf", "md")


def write(report: Report, fmt: str, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "html":
        path.write_text(html_text(report), encoding="utf-8")
    elif fmt == "md":
        path.write_text(markdown(report), encoding="utf-8")
    elif fmt == "pdf":
        pdf(report, path)
    else:
        raise ValueError(f"unknown format {fmt!r}: use {', '.join(FORMATS)}")
    return path


# -- HTML ---------------------------------------------------------------------------------------

CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.5em}h2{border-bottom:2px solid #345;padding-bottom:.2em;margin-top:2em}h3{margin-bottom:.3em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left}
th{background:#eef}.P1{background:#fdd}.P2{background:#ffe9c6}.nodata{color:#777;font-style:italic}.note{color:#555;font-size:.8em}
img{max-width:100%}.asset{page-break-inside:avoid;border-top:1px solid #ddd;margin-top:1.5em}"""


def _img(fig_fn: Callable, *args) -> str:  # noqa: ANN002
    data = base64.b64encode(plots.png(fig_fn(*args))).decode()
    return f'<img alt="plot" src="data:image/png;base64,{data}">'


def _table(header: list[str] | None, rows: list[list[str]], classes: list[str] | None = None) -> str:
    e = html.escape
    head = "<thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr></thead>" if header else ""
    body = "".join(f'<tr class="{e(classes[i]) if classes else ""}">' + "".join(f"<td>{e(c)}</td>" for c in row)
                   + "</tr>" for i, row in enumerate(rows))
    return f"<table>{head}<tbody>{body}</tbody></table>"


def _pairs(pairs: list[tuple[str, str]]) -> str:
    """A two-column table of names and values, with no header row."""
    return _table(None, [[k, v] for k, v in pairs])


def _nodata(text: str) -> str:
    return f'<p class="nodata">No data: {html.escape(text)}.</p>'


def _asset_svg(page: AssetPage, report: Report) -> str:
    return svg.asset_chart(page, report.maintenance.start or report.scope.start, report.scope.end)


def html_text(report: Report) -> str:
    e = html.escape
    m, q = report.maintenance, report.quality
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>factory-ai report</title>"
             f"<style>{CSS}</style></head><body>",
             f"<h1>Maintenance and quality report</h1><p>{e(report.scope.describe())}. Generated "
             f"{stamp(report.generated_at)} UTC from {e(report.source)}.</p>",
             "<h2>Maintenance</h2>"]
    if not m.fleet:
        parts.append(_nodata("no assets in the store for this scope"))
    else:
        counts = m.priorities()
        parts.append(f"<p>{len(m.fleet)} assets: {counts['P1']} to repair before failure (P1), {counts['P2']} to "
                     f"schedule or check (P2), {counts['P3']} to monitor.</p>")
        if not any(h.forecast_at for h in m.fleet):
            parts.append(_nodata(NO_FORECASTS))
        parts.append(_table(FLEET_HEADER, fleet_rows(report), [h.priority for h in m.fleet]))
        parts.append(f"<p class='note'>{e(TREND_NOTE)}</p>")
        if pages_note(report):
            parts.append(f"<p>{e(pages_note(report))}</p>")
        for page in m.pages:
            h = page.health
            parts.append(f"<div class='asset'><h3>{e(h.asset)} <small>{e(h.priority)}: {e(h.action)}</small></h3>")
            if h.health_index is not None:
                moved = ", ".join(f"{s['sensor']} {s['share']:.0%}" for s in h.health_sensors or [])
                parts.append(f"<p>health {h.health_index:.0f} of 100 ({'ALARM' if h.health_alarm else 'normal'}, "
                             f"{e(h.health_model or '')}); moved most: {e(moved or '–')}</p>")
            if h.vibration_zone:
                parts.append(f"<p>vibration: ISO 10816-3 zone {e(h.vibration_zone)} ({ZONE_MEANING[h.vibration_zone]}), "
                             f"{e(h.vibration_sensor or '')} {h.vibration_mm_s:.2f} mm/s</p>")
            if page.sensors or (page.rul is not None and len(page.rul)) or (
                    page.health_scores is not None and len(page.health_scores)):
                parts.append(_asset_svg(page, report))
            else:
                parts.append(_nodata("no readings or forecasts for this asset in the period"))
            if page.alerts:
                parts.append(_table(["severity", "status", "count", "first seen", "last seen", "message"],
                                    [[a["severity"], a["status"], str(a["count"]), stamp(a["first_seen"]),
                                      stamp(a["last_seen"]), a["message"]] for a in page.alerts]))
            parts.append("</div>")
    parts.append("<h2>Quality</h2>")
    if not q.total:
        parts.append(_nodata("no inspections in the period"))
    else:
        parts.append(_pairs(quality_summary(report)))
        parts.append(_table(["line", "inspected", "defects", "defect rate"],
                            [[str(r.line), str(r.n), str(int(r.defects)), f"{r.rate:.2%}"] for r in q.lines.itertuples()]))
        parts.append(_img(plots.defect_rate, q))
        if q.pareto is not None:
            parts.append(_img(plots.classes, q) + _img(plots.pareto, q))
        else:
            parts.append(_nodata("no defects in the period, so no Pareto"))
        parts.append(_img(plots.pchart, q))
        if q.pchart["violations"]:
            parts.append(_table(["subgroup", "rule", "pattern"], [[stamp(v["period"]), str(v["rule"]), v["what"]]
                                                                   for v in q.pchart["violations"]]))
    parts.append("<h3>Review queue</h3>" + _pairs(review_lines(report)))
    parts.append("<h3>Models and drift</h3>")
    parts.append(_pairs(model_lines(report)) if q.models else _nodata("no model in service is recorded in the store"))
    parts.append(f"<p>Drift: {e(drift_line(report))}</p></body></html>")
    return "\n".join(parts)


# -- Markdown -----------------------------------------------------------------------------------

def _md_table(header: list[str], rows: list[list[str]]) -> str:
    clean = [[c.replace("|", "\\|").replace("\n", " ") for c in row] for row in rows]
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                     + ["| " + " | ".join(r) + " |" for r in clean])


def markdown(report: Report) -> str:
    m, q = report.maintenance, report.quality
    out = [f"# Maintenance and quality report\n\n{report.scope.describe()}. Generated {stamp(report.generated_at)} UTC.",
           "## Maintenance"]
    if not m.fleet:
        out.append("_No data: no assets in the store for this scope._")
    else:
        counts = m.priorities()
        out.append(f"{len(m.fleet)} assets: **{counts['P1']} P1** (repair before failure), {counts['P2']} P2, "
                   f"{counts['P3']} to monitor.")
        if not any(h.forecast_at for h in m.fleet):
            out.append(f"_No data: {NO_FORECASTS}._")
        out.append(_md_table(FLEET_HEADER, fleet_rows(report)))
        out.append(f"_{TREND_NOTE}_")
    out.append("## Quality")
    if not q.total:
        out.append("_No data: no inspections in the period._")
    else:
        out.append(_md_table(["", ""], [list(p) for p in quality_summary(report)]))
        out.append(_md_table(["line", "inspected", "defects", "defect rate"],
                             [[str(r.line), str(r.n), str(int(r.defects)), f"{r.rate:.2%}"] for r in q.lines.itertuples()]))
        if q.pareto is not None:
            out.append(_md_table(["defect class", "count", "cumulative"],
                                 [[str(r._1), str(r.count), f"{r.cumulative:.0%}"] for r in q.pareto.itertuples()]))
    out.append("### Review queue\n\n" + _md_table(["", ""], [list(p) for p in review_lines(report)]))
    out.append("### Models and drift\n\n" + (_md_table(["model", ""], [list(p) for p in model_lines(report)])
                                             if q.models else "_No model in service is recorded in the store._"))
    out.append(f"Drift: {drift_line(report)}")
    return "\n\n".join(out) + "\n"
