"""The PDF report: pages a plant prints and files in its document system.

Drawn with matplotlib alone, so the line-side PC that writes the HTML writes the PDF too, with
no browser or LaTeX. The summary and tables come first, laid out top-down on A4 pages (a long
fleet table continues on the next page under its header again); then a page per asset and a
page per quality chart. The words and rows are those of the HTML and Markdown (``text``).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on a line-side PC (as in plots)
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402

from factory_ai.reports import plots  # noqa: E402
from factory_ai.reports.build import Report  # noqa: E402
from factory_ai.reports.text import (  # noqa: E402
    FLEET_HEADER,
    NO_FORECASTS,
    TREND_NOTE,
    drift_line,
    fleet_rows,
    model_lines,
    pages_note,
    quality_summary,
    review_lines,
)

A4 = (8.27, 11.69)  # inches, portrait
MARGIN = 0.05  # of the page, each side
ROW = 0.0155  # a table row, as a share of the page height
FONT = 6  # table text, points
PAGE_CHARS = 160  # characters of table text across the page between the margins
PAD_CHARS = 2  # a cell's padding, in characters
PRIORITY_COLOURS = {"P1": "#fdd", "P2": "#ffe9c6"}


class _Pages:
    """Headings, paragraphs and tables placed top-down; a new page starts when one is full."""

    def __init__(self, doc) -> None:  # noqa: ANN001 - a PdfPages
        self.doc, self.fig, self.y = doc, None, 0.0

    def _room(self, height: float) -> None:
        if self.fig is None or self.y - height < MARGIN:
            self.flush()
            self.fig, self.y = plt.figure(figsize=A4), 1 - MARGIN

    def flush(self) -> None:
        if self.fig is not None:
            self.doc.savefig(self.fig)
            plt.close(self.fig)
            self.fig = None

    def heading(self, text: str, size: float = 13) -> None:
        self._room(0.06)
        self.y -= 0.01
        self.fig.text(MARGIN, self.y, text, fontsize=size, weight="bold", va="top")
        self.y -= size / 72 / A4[1] * 1.6

    def paragraph(self, text: str, size: float = 8, style: str = "normal") -> None:
        lines = textwrap.wrap(text, width=int(130 * 8 / size)) or [""]
        height = len(lines) * size / 72 / A4[1] * 1.45
        self._room(height)
        self.fig.text(MARGIN, self.y, "\n".join(lines), fontsize=size, va="top", style=style, linespacing=1.3)
        self.y -= height + 0.008

    def table(self, header: list[str] | None, rows: list[list[str]], colours: list[str | None] | None = None) -> None:
        widths = _fit([max(len(c) for c in column) for column in zip(*([header] if header else []), *rows, strict=True)])
        cut = [[c if len(c) <= w else c[:w - 1] + "…" for c, w in zip(row, widths, strict=True)] for row in rows]
        widths = [w + PAD_CHARS for w in widths]
        colours = colours or [None] * len(rows)
        done = 0
        while done < len(cut):
            self._room(ROW * (3 if header else 2))
            fit = max(int((self.y - MARGIN) / ROW) - (1 if header else 0), 1)
            chunk, tint = cut[done:done + fit], colours[done:done + fit]
            height = ROW * (len(chunk) + (1 if header else 0))
            ax = self.fig.add_axes((MARGIN, self.y - height, (1 - 2 * MARGIN) * sum(widths) / PAGE_CHARS, height))
            ax.axis("off")
            table = ax.table(cellText=chunk, colLabels=header, cellLoc="left", colWidths=widths, bbox=(0, 0, 1, 1),
                             cellColours=[[c or "white"] * len(widths) for c in tint])
            table.auto_set_font_size(False)
            table.set_fontsize(FONT)
            for (r, _), cell in table.get_celld().items():
                cell.set_edgecolor("#bbb")
                cell.set_linewidth(0.4)
                if header and r == 0:
                    cell.set_facecolor("#eef")
                    cell.get_text().set_weight("bold")
            self.y -= height + 0.012
            done += len(chunk)


def _fit(widths: list[int]) -> list[int]:
    """Column widths in characters that fit across the page: the widest column gives way first
    (in the fleet table, the alert message; the HTML shows it whole)."""
    widths = [max(w, 3) for w in widths]
    while sum(widths) + PAD_CHARS * len(widths) > PAGE_CHARS and max(widths) > 8:
        widths[widths.index(max(widths))] -= 1
    return widths


def pdf(report: Report, path: Path) -> None:
    """Summary and tables on A4 pages, then one page per asset (with its alerts) and per chart."""

    m, q = report.maintenance, report.quality
    with PdfPages(path) as doc:
        pages = _Pages(doc)
        pages.heading("Maintenance and quality report", 16)
        pages.paragraph(f"{report.scope.describe()}. Generated {report.generated_at:%Y-%m-%d %H:%M} UTC "
                        f"from {report.source}.")
        pages.heading("Maintenance")
        if not m.fleet:
            pages.paragraph("No data: no assets in the store for this scope.", style="italic")
        else:
            counts = m.priorities()
            pages.paragraph(f"{len(m.fleet)} assets: {counts['P1']} to repair before failure (P1), {counts['P2']} to "
                            f"schedule or check (P2), {counts['P3']} to monitor.")
            if not any(h.forecast_at for h in m.fleet):
                pages.paragraph(f"No data: {NO_FORECASTS}.", style="italic")
            pages.table(FLEET_HEADER, fleet_rows(report), [PRIORITY_COLOURS.get(h.priority) for h in m.fleet])
            pages.paragraph(TREND_NOTE, size=6.5)
            if pages_note(report):
                pages.paragraph(pages_note(report))
        pages.heading("Quality")
        if not q.total:
            pages.paragraph("No data: no inspections in the period.", style="italic")
        else:
            pages.table(None, [list(p) for p in quality_summary(report)])
            pages.table(["line", "inspected", "defects", "defect rate"],
                        [[str(r.line), str(r.n), str(int(r.defects)), f"{r.rate:.2%}"] for r in q.lines.itertuples()])
            if q.pareto is not None:
                pages.table(["defect class", "count", "cumulative"],
                            [[str(r._1), str(r.count), f"{r.cumulative:.0%}"] for r in q.pareto.itertuples()])
        pages.heading("Review queue", 10)
        pages.table(None, [list(p) for p in review_lines(report)])
        pages.heading("Models and drift", 10)
        if q.models:
            pages.table(None, [list(p) for p in model_lines(report)])
        else:
            pages.paragraph("No data: no model in service is recorded in the store.", style="italic")
        pages.paragraph(f"Drift: {drift_line(report)}")
        pages.flush()

        figures = [lambda page=page: plots.asset(page, alerts=True) for page in m.pages
                   if page.sensors or (page.rul is not None and len(page.rul)) or (
                    page.health_scores is not None and len(page.health_scores))]
        if q.total:
            figures.append(lambda: plots.defect_rate(q))
            if q.pareto is not None:
                figures += [lambda: plots.classes(q), lambda: plots.pareto(q)]
            figures.append(lambda: plots.pchart(q))
        for make in figures:
            fig = make()
            doc.savefig(fig)
            plt.close(fig)
        info = doc.infodict()
        info["Title"] = f"factory-ai report {report.scope.describe()}"
