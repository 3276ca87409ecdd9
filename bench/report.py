"""Benchmark: report generation for a plant of 100 assets and 100,000 inspections.

Fills a SQLite store under ``--out`` with a week of data (hourly readings of 5 sensors per
asset, an hourly forecast per asset, a few alerts, and 100k inspections on 4 lines), then
times, in one run: gathering the report from the store, and writing it as HTML (the per-asset
trends as inline SVG), Markdown and PDF (matplotlib, one page per plot). Charts go to the
worst-ranked ``[reports] asset_pages`` assets (50 by default), as the report job writes them.
Target: HTML report (gather + write) under 10 s, also at issue 19's size:

    python bench/report.py [--assets 100] [--inspections 100000] [--out var/bench-report]
    python bench/report.py --assets 1000 --inspections 1000000
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from datetime import timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def fill(store, assets: int, inspections: int, spool: Path) -> None:  # noqa: ANN001
    from sqlalchemy import insert
    from sqlmodel import select

    from factory_ai.ingest import ReadingWriter, SensorReading
    from factory_ai.store import Alert, Asset, Inspection, Prediction, utcnow

    rng = np.random.default_rng(0)
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    hours = [now - timedelta(hours=h) for h in range(168, 0, -1)]
    writer = ReadingWriter(store, spool, batch_size=20_000)
    for a in range(assets):
        wear = np.linspace(0, rng.uniform(0.2, 1.0), len(hours))
        batch = [SensorReading(f"pump-{a:03d}", sensor, ts, float(base + 3 * w + rng.normal(0, 0.2)))
                 for sensor, base in (("vibration", 3), ("temperature", 60), ("pressure", 6), ("current", 30),
                                      ("load", 70))
                 for ts, w in zip(hours, wear, strict=True)]
        writer.put_many(batch)
    writer.close(timeout=600)
    with store.session() as session:
        ids = {name: i for i, name in session.exec(select(Asset.id, Asset.name)).all()}
        rows = []
        for asset_id in ids.values():
            rul0 = rng.uniform(50, 600)
            for h, ts in enumerate(hours):
                rul = max(rul0 - h, 1.0)
                rows.append({"asset_id": asset_id, "ts": ts, "rul": rul, "rul_low": rul * 0.8, "rul_high": rul * 1.2,
                             "risk": float(np.exp(-rul / 40)), "horizon": 48.0, "model_name": "pumps",
                             "model_version": "v1"})
        session.execute(insert(Prediction), rows)
        session.add_all([Alert(key=f"rul:{n}", rule="rul_below", severity="critical", asset_id=i,
                               message=f"{n}: remaining useful life low") for n, i in list(ids.items())[:10]])
        if not inspections:
            return
        verdicts = rng.choice(["pass", "reject", "review"], size=inspections, p=[0.93, 0.05, 0.02])
        labels = rng.choice(["crack", "scratch", "spot", "dent"], size=inspections, p=[0.4, 0.3, 0.2, 0.1])
        offsets = np.sort(rng.uniform(0, 168 * 3600, size=inspections))
        start = hours[0]
        session.execute(insert(Inspection), [
            {"ts": start + timedelta(seconds=float(o)), "source": f"cam/{i}.png", "line": f"line{i % 4 + 1}",
             "verdict": v, "label": "good" if v == "pass" else lb, "model_name": "surface", "model_version": "v1"}
            for i, (o, v, lb) in enumerate(zip(offsets, verdicts, labels, strict=True))])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--assets", type=int, default=100)
    parser.add_argument("--inspections", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench-report")
    args = parser.parse_args()
    from factory_ai.reports.build import build
    from factory_ai.reports.config import ReportSettings
    from factory_ai.reports.render import write
    from factory_ai.reports.scope import make_scope
    from factory_ai.store import Store

    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    store = Store(f"sqlite:///{args.out / 'factory.db'}")
    t = time.perf_counter()
    fill(store, args.assets, args.inspections, args.out / "spool")
    print(f"filled the store in {time.perf_counter() - t:.1f} s: {args.assets} assets x 5 sensors x 168 h, "
          f"{args.assets * 168} forecasts, {args.inspections} inspections")
    scope = make_scope(since="7d")
    t = time.perf_counter()
    report = build(store, scope, asset_pages=ReportSettings().asset_pages)
    gather = time.perf_counter() - t
    times = {}
    for fmt in ("html", "md", "pdf"):
        t = time.perf_counter()
        path = write(report, fmt, args.out / f"report.{fmt}")
        times[fmt] = (time.perf_counter() - t, path.stat().st_size)
    print(f"gather from the store: {gather:.2f} s ({report.quality.total} inspections, "
          f"{len(report.maintenance.fleet)} assets, {len(report.maintenance.pages)} with charts)")
    for fmt, (seconds, size) in times.items():
        print(f"{fmt:>4}: write {seconds:6.2f} s, gather + write {gather + seconds:6.2f} s, {size / 1e6:.1f} MB")
    html_total = gather + times["html"][0]
    print(f"HTML report: {html_total:.2f} s against the 10 s target ({'met' if html_total < 10 else 'NOT met'})")
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
