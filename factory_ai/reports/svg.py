"""Small inline SVG line charts, written directly: the per-asset trends of the HTML report.

Why not matplotlib here: a report of 100 assets draws 100 multi-panel figures, and rendering
each through matplotlib takes most of a second on a line-side PC. Lines, bands, limit lines and
a marked instant are all an asset page needs; as SVG text they cost milliseconds, stay sharp
at any zoom, and need no script. (PDF pages and the quality charts still use matplotlib.)
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from factory_ai.reports.maintenance import AssetPage


@dataclass
class Panel:
    label: str
    t: Sequence[datetime]
    y: np.ndarray
    low: np.ndarray | None = None  # band under/over the line (min-max, or an interval)
    high: np.ndarray | None = None
    limits: list[float] = field(default_factory=list)
    color: str = "#1f77b4"


def chart(panels: list[Panel], *, start: datetime, end: datetime, marks: Sequence[datetime] = (),
          span: tuple[datetime, datetime] | None = None, width: int = 1000, panel_height: int = 70,
          title: str = "") -> str:
    """Panels stacked on one time axis from ``start`` to ``end``; ``marks`` are red vertical lines
    (the predicted failure), ``span`` a shaded interval (its 80 % interval)."""
    left, right, top = 110, 10, 18
    height = top + panel_height * len(panels) + 18
    t0, t1 = start.timestamp(), max(end.timestamp(), start.timestamp() + 1)

    def x(when: datetime) -> float:
        return left + (when.timestamp() - t0) / (t1 - t0) * (width - left - right)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" style="max-width:100%;height:auto" font-family="sans-serif" '
           'font-size="10" role="img">']
    if title:
        out.append(f'<text x="{left}" y="12" font-size="11">{html.escape(title)}</text>')
    bottom = top + panel_height * len(panels)
    if span is not None:
        a, b = (min(max(x(s), left), width - right) for s in span)
        out.append(f'<rect x="{a:.1f}" y="{top}" width="{max(b - a, 0):.1f}" height="{bottom - top}" '
                   'fill="#d62728" fill-opacity="0.08"/>')
    for i, panel in enumerate(panels):
        y0 = top + i * panel_height
        out += _panel(panel, x, y0, panel_height, left, width - right)
    for when in marks:
        if t0 <= when.timestamp() <= t1:
            out.append(f'<line x1="{x(when):.1f}" x2="{x(when):.1f}" y1="{top}" y2="{bottom}" stroke="#d62728"/>')
    stamp = "%Y-%m-%d %H:%M:%S" if t1 - t0 < 7200 else "%Y-%m-%d %H:%M"  # seconds count on a short axis
    out.append(f'<text x="{left}" y="{height - 4}">{start:{stamp}}</text>'
               f'<text x="{width - right}" y="{height - 4}" text-anchor="end">{end:{stamp}} UTC</text>')
    out.append("</svg>")
    return "".join(out)


def _panel(p: Panel, x, y0: int, h: int, left: int, right: int) -> list[str]:  # noqa: ANN001
    values = [p.y] + [b for b in (p.low, p.high) if b is not None]
    finite = np.concatenate([v[np.isfinite(v)] for v in values] + [np.asarray(p.limits, float)])
    out = [f'<rect x="{left}" y="{y0 + 4}" width="{right - left}" height="{h - 8}" fill="none" stroke="#ccc"/>',
           f'<text x="{left - 6}" y="{y0 + h / 2 + 3}" text-anchor="end">{html.escape(p.label)}</text>']
    if not len(finite):
        return out
    lo, hi = float(finite.min()), float(finite.max())
    pad = (hi - lo) * 0.08 or abs(hi) * 0.05 or 1.0
    lo, hi = lo - pad, hi + pad

    def y(v: float) -> float:
        return y0 + 4 + (hi - v) / (hi - lo) * (h - 8)

    xs = [x(t) for t in p.t]
    out.append(f'<text x="{left - 6}" y="{y0 + 12}" text-anchor="end" fill="#777">{hi:.4g}</text>'
               f'<text x="{left - 6}" y="{y0 + h - 6}" text-anchor="end" fill="#777">{lo:.4g}</text>')
    if p.low is not None and p.high is not None and len(xs):
        ring = [(a, y(b)) for a, b in zip(xs, p.high, strict=True) if np.isfinite(b)]
        ring += [(a, y(b)) for a, b in zip(reversed(xs), p.low[::-1], strict=True) if np.isfinite(b)]
        if ring:
            out.append('<polygon fill="' + p.color + '" fill-opacity="0.15" points="'
                       + " ".join(f"{a:.1f},{b:.1f}" for a, b in ring) + '"/>')
    for limit in p.limits:
        out.append(f'<line x1="{left}" x2="{right}" y1="{y(limit):.1f}" y2="{y(limit):.1f}" stroke="#d62728" '
                   'stroke-dasharray="4 3"/>')
    points = " ".join(f"{a:.1f},{y(b):.1f}" for a, b in zip(xs, p.y, strict=True) if np.isfinite(b))
    if points:
        out.append(f'<polyline fill="none" stroke="{p.color}" stroke-width="1.2" points="{points}"/>')
    return out


def asset_chart(page: AssetPage, start: datetime, end: datetime, max_sensors: int = 6) -> str:
    """An asset's sensor trends and RUL history on one time axis from ``start``, reaching out to
    the predicted failure (at most one period beyond ``end``, so a far-off failure does not
    squash the data). The report's asset pages and the console's asset page draw this."""
    panels = [Panel(name + (f" [{s['unit']}]" if s["unit"] else ""), s["t"], s["mean"], s["min"], s["max"],
                    [v for v in (s["low_limit"], s["high_limit"]) if v is not None])
              for name, s in list(page.sensors.items())[:max_sensors]]
    if page.rul is not None and len(page.rul):
        r = page.rul
        panels.append(Panel("RUL [h]", list(r["ts"]), r["rul"].to_numpy(float), r["rul_low"].to_numpy(float),
                            r["rul_high"].to_numpy(float), color="#2ca02c"))
    scores = page.health_scores
    if scores is not None and len(scores):
        panels.append(Panel("health (50: alarm)", list(scores["ts"]), scores["health"].to_numpy(float),
                            limits=[50.0], color="#9467bd"))
    failure, band = page.health.failure() or (None, None)
    stop = end if failure is None else min(max(end, failure), end + (end - start))
    title = f"predicted failure {failure:%Y-%m-%d %H:%M} UTC (red line)" if failure else ""
    return chart(panels, start=start, end=stop, marks=[failure] if failure else [], span=band, title=title)


def sparkline(values: np.ndarray, width: int = 120, height: int = 24, color: str = "#1f77b4") -> str:
    """A line with no axes, for a table cell: the shape of the last hours at a glance."""
    finite = values[np.isfinite(values)] if len(values) else values
    if len(finite) < 2:
        return f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img"></svg>'
    lo, hi = float(finite.min()), float(finite.max())
    span = (hi - lo) or 1.0
    step = (width - 2) / (len(values) - 1)
    points = " ".join(f"{1 + i * step:.1f},{height - 2 - (v - lo) / span * (height - 4):.1f}"
                      for i, v in enumerate(values) if np.isfinite(v))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">'
            f'<polyline fill="none" stroke="{color}" stroke-width="1.2" points="{points}"/></svg>')
