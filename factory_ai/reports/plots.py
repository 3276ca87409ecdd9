"""The report's plots, as PNG bytes (embedded in HTML, placed on PDF pages).

Matplotlib with the Agg backend: no display, no browser, the same on a line-side PC and a
server. Each function takes the section's numbers and returns a finished figure; none reads
the store.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.layout_engine import TightLayoutEngine  # noqa: E402

from factory_ai.reports.maintenance import AssetPage  # noqa: E402
from factory_ai.reports.quality import Quality  # noqa: E402

DPI = 90


def png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    plt.close(fig)
    return buffer.getvalue()


def _lay_out(fig: Figure) -> None:
    """Place the axes once, without attaching a layout engine to the figure: a figure that keeps
    one (as ``fig.tight_layout()`` leaves it) is drawn twice on every save, once to lay out and
    once to print, which doubled the PDF's time."""
    TightLayoutEngine().execute(fig)


def _time_axis(ax) -> None:  # noqa: ANN001
    low, high = ax.get_xlim()
    if high - low < 1 / 24:  # one point in time: give the axis an hour either side (units are days)
        ax.set_xlim(low - 1 / 24, high + 1 / 24)
    locator = mdates.AutoDateLocator(minticks=3, maxticks=7)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def asset(page: AssetPage, max_sensors: int = 6, alerts: bool = False) -> Figure:
    """Sensor trends (bucket mean, min-max band, limits) and the RUL history, with the predicted
    failure time and its interval marked on every panel; with ``alerts``, the asset's alerts
    listed under the plots (the PDF's asset page)."""
    sensors = list(page.sensors.items())[:max_sensors]
    scores = page.health_scores if page.health_scores is not None and len(page.health_scores) else None
    rows = len(sensors) + (1 if page.rul is not None and len(page.rul) else 0) + (1 if scores is not None else 0)
    notes = [f"{a['severity']} ({a['status']}, {a['count']}x, last {a['last_seen']:%Y-%m-%d %H:%M}): {a['message']}"
             for a in page.alerts[:8]] if alerts else []
    below = 0.3 + 0.16 * len(notes) if notes else 0.0
    fig, axes = plt.subplots(max(rows, 1), 1, figsize=(8, 1.5 * max(rows, 1) + 0.4 + below), sharex=True,
                             squeeze=False)
    axes = axes[:, 0]
    h = page.health
    failure, band = h.failure() or (None, None)
    for ax, (name, s) in zip(axes, sensors, strict=False):
        ax.fill_between(s["t"], s["min"], s["max"], color="tab:blue", alpha=0.15, linewidth=0)
        ax.plot(s["t"], s["mean"], color="tab:blue", linewidth=1)
        for limit in (s["low_limit"], s["high_limit"]):
            if limit is not None:
                ax.axhline(limit, color="tab:red", linestyle="--", linewidth=0.8)
        ax.set_ylabel(f"{name}" + (f"\n[{s['unit']}]" if s["unit"] else ""), fontsize=8)
    if scores is not None:
        ax = axes[rows - 1]
        ax.plot(scores["ts"], scores["health"], color="tab:purple", linewidth=1.2)
        ax.axhline(50, color="tab:red", linestyle="--", linewidth=0.8)
        ax.set_ylim(0, 105)
        ax.set_ylabel("health\n(50: alarm)", fontsize=8)
    if page.rul is not None and len(page.rul):
        ax = axes[len(sensors)]
        r = page.rul.dropna(subset=["rul"])
        if len(r):
            ax.plot(r["ts"], r["rul"], color="tab:green", linewidth=1.2)
            if r["rul_low"].notna().all():
                ax.fill_between(r["ts"], r["rul_low"], r["rul_high"], color="tab:green", alpha=0.15, linewidth=0)
        ax.set_ylabel("RUL [h]", fontsize=8)
    for ax in axes:
        if band is not None:
            ax.axvspan(band[0], band[1], color="tab:red", alpha=0.08)
        if failure is not None:
            ax.axvline(failure, color="tab:red", linewidth=1)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    if not sensors and rows == 0:
        axes[0].text(0.5, 0.5, "no readings in the period", ha="center", va="center", transform=axes[0].transAxes)
    _time_axis(axes[-1])
    title = f"{h.asset}: readings" + (f"; predicted failure {failure:%Y-%m-%d %H:%M} UTC (red)" if failure else "")
    axes[0].set_title(title, fontsize=9)
    # Fixed margins in inches instead of a tight layout: the page's shape is known, and the
    # layout pass costs as much as drawing the page again (100 assets in one PDF).
    width, height = fig.get_size_inches()
    fig.subplots_adjust(left=0.85 / width, right=1 - 0.15 / width, top=1 - 0.3 / height,
                        bottom=(0.45 + below) / height, hspace=0.15)
    if notes:
        fig.text(0.85 / width, (below - 0.1) / height, "Alerts\n" + "\n".join(notes), va="top", fontsize=7,
                 linespacing=1.5)
    return fig


def defect_rate(q: Quality) -> Figure:
    fig, ax = plt.subplots(figsize=(8, 2.8))
    for line, group in q.over_time.groupby("line"):
        ax.plot(group["period"], 100 * group["rate"], marker="o", markersize=3, linewidth=1, label=str(line))
    return _over_time(fig, ax, "defect rate [%]", f"Defect rate per line, per {q.subgroup}")


def classes(q: Quality) -> Figure:
    table = q.classes_over_time
    fig, ax = plt.subplots(figsize=(8, 2.8))
    bottom = None
    width = 0.8 if q.subgroup == "day" else 0.8 / 24
    for name in table.columns:
        ax.bar(table.index, table[name], bottom=bottom, width=width, label=str(name))
        bottom = table[name] if bottom is None else bottom + table[name]
    return _over_time(fig, ax, "defects", f"Defects by class, per {q.subgroup}")


def pareto(q: Quality) -> Figure:
    p = q.pareto
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar(p["class"].astype(str), p["count"], color="tab:orange")
    ax.set_ylabel("defects")
    twin = ax.twinx()
    twin.plot(p["class"].astype(str), 100 * p["cumulative"], color="black", marker="o", markersize=3)
    twin.axhline(80, color="grey", linestyle=":", linewidth=0.8)
    twin.set_ylim(0, 105)
    twin.set_ylabel("cumulative [%]")
    ax.set_title("Pareto of defect classes", fontsize=9)
    _lay_out(fig)
    return fig


def pchart(q: Quality) -> Figure:
    c = q.pchart
    fig, ax = plt.subplots(figsize=(8, 2.8))
    ax.plot(c["periods"], 100 * c["p"], marker="o", markersize=3, linewidth=1, color="tab:blue", label="p")
    ax.step(c["periods"], 100 * c["ucl"], where="mid", color="tab:red", linewidth=0.8, label="UCL / LCL")
    ax.step(c["periods"], 100 * c["lcl"], where="mid", color="tab:red", linewidth=0.8)
    ax.axhline(100 * c["center"], color="grey", linewidth=0.8, label=f"centre {100 * c['center']:.2f} %")
    flagged = sorted({v["index"] for v in c["violations"]})
    if flagged:
        ax.plot([c["periods"][i] for i in flagged], [100 * c["p"][i] for i in flagged], "o", color="tab:red",
                markersize=6, fillstyle="none", label="Western Electric violation")
    return _over_time(fig, ax, "defective [%]", f"p-chart, one subgroup per {q.subgroup}")


def _over_time(fig: Figure, ax, ylabel: str, title: str) -> Figure:  # noqa: ANN001
    """The finish the per-period charts share: labels, legend, grid, a readable time axis."""
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(alpha=0.3)
    _time_axis(ax)
    _lay_out(fig)
    return fig
