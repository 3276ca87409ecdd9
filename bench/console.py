"""Benchmark: the console's line view, first load over loopback, with 1,000 inspections stored.

Starts a daemon (demo model, no connectors) on a SQLite store holding ``--inspections`` parts
over the last hour (the newest 48 judged by the daemon itself, so their images and heatmaps are
in its memory), then measures in one run: the server's answer to ``GET /`` (median and
p95 of ``--rounds`` requests with httpx), and, where Chromium is installed, a full page load
in headless Chromium with an empty cache each time (navigation start to the load event, the
images of the 24 cards included). Target: line view load under 300 ms.

With ``--assets N`` the store also holds N assets with 5 sensors each, a week of hourly
readings and hourly forecasts (bench/report.py's fill), and the assets page (``GET /assets``)
and one asset's page (``GET /assets/pump-000``) are timed too. Target (issue 19): both under
300 ms median at 1,000 assets. ``--postgres`` puts the store on a throw-away PostgreSQL
(tests/servers.py) instead of SQLite, as a plant that outgrew one machine runs it.

    python bench/console.py [--inspections 1000] [--rounds 50] [--assets 1000] [--postgres]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def fill(url: str, n: int) -> None:
    from sqlalchemy import insert

    from factory_ai.store import Inspection, Store, utcnow

    now = utcnow()
    verdicts = ["pass"] * 18 + ["reject", "review"]
    with Store(url) as store, store.session() as session:
        session.execute(insert(Inspection), [
            {"ts": now - timedelta(seconds=3600 * i / n), "source": f"cam/part-{i:05d}.png", "line": "line1",
             "verdict": verdicts[i % len(verdicts)], "label": "good", "confidence": 0.97,
             "model_name": "demo-surface", "model_version": "v1"} for i in range(n)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inspections", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--assets", type=int, default=0, help="Also time the assets pages with this many assets.")
    parser.add_argument("--postgres", action="store_true", help="The store on a throw-away PostgreSQL, not SQLite.")
    args = parser.parse_args()
    server = None
    if args.postgres:
        from tests.servers import start_postgres

        server = start_postgres()
    try:
        return _run(args, server.url if server else "sqlite:///factory.db")
    finally:
        if server:
            server.stop()


def _run(args: argparse.Namespace, url: str) -> int:

    import httpx

    from factory_ai.config import load_settings
    from factory_ai.daemon.service import Daemon

    work = Path(tempfile.mkdtemp(prefix="bench-console-"))
    try:
        shutil.copytree(ROOT / "models" / "demo-surface", work / "models" / "demo-surface")
        (work / "factory.toml").write_text(f'[store]\nurl = "{url}"\n[runtime]\nthreads = 1\n'
                                           '[api]\nport = 0\n[scheduler]\nenabled = false\n')
        settings = load_settings(work / "factory.toml", environ={})
        fill(settings.database_url, max(args.inspections - 48, 0))
        if args.assets:
            _fill_assets(settings.database_url, args.assets, work / "spool")
        daemon = Daemon(settings, [])
        daemon.start()
        try:
            # The newest parts go through the daemon itself, so the line view's cards show real
            # images and heatmap overlays from its memory, as on a running line.
            from factory_ai.samples.images import generate

            generate(work / "parts", per_class=12, size=96, seed=1)
            for path in sorted((work / "parts").rglob("*.png")):
                daemon.inspector.inspect(path.read_bytes(), str(path), "line1")
            daemon.results.flush()
            host, port = daemon.api_address
            base = f"http://{host}:{port}"
            client = httpx.Client(base_url=base, timeout=10)
            client.get("/")  # warm: templates compiled, connections open
            times = []
            for _ in range(args.rounds):
                t = time.perf_counter()
                answer = client.get("/")
                times.append((time.perf_counter() - t) * 1000)
                assert answer.status_code == 200 and answer.text.count('class="card v-') == 24
            times.sort()
            print(f"{args.inspections} inspections in the store; GET / over loopback, {args.rounds} rounds: "
                  f"median {statistics.median(times):.1f} ms, p95 {times[int(0.95 * len(times)) - 1]:.1f} ms, "
                  f"{len(answer.content) / 1024:.0f} KiB")
            browser_ms = _chromium(base, args.rounds // 5 or 1)
            if browser_ms:
                print(f"Chromium, navigation start to load event ({len(browser_ms)} loads): "
                      f"median {statistics.median(browser_ms):.1f} ms, worst {max(browser_ms):.1f} ms")
            worst = statistics.median(browser_ms) if browser_ms else statistics.median(times)
            print(f"line view load: {worst:.1f} ms against the 300 ms target ({'met' if worst < 300 else 'NOT met'})")
            if args.assets:
                for path in ("/assets", "/assets/pump-000"):
                    client.get(path)
                    pages = []
                    for _ in range(max(args.rounds // 5, 5)):
                        t = time.perf_counter()
                        answer = client.get(path)
                        pages.append((time.perf_counter() - t) * 1000)
                        assert answer.status_code == 200, answer.text[:200]
                    median = statistics.median(pages)
                    print(f"GET {path} with {args.assets} assets on {'SQLite' if url.startswith('sqlite') else 'PostgreSQL'} "
                          f"({len(pages)} rounds): median {median:.1f} ms, "
                          f"worst {max(pages):.1f} ms, {len(answer.content) / 1024:.0f} KiB "
                          f"({'met' if median < 300 else 'NOT met'}: target 300 ms)")
        finally:
            daemon.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _fill_assets(url: str, assets: int, spool: Path) -> None:
    """bench/report.py's week of readings and forecasts for ``assets`` pumps (no inspections)."""
    import importlib.util

    from factory_ai.store import Store

    spec = importlib.util.spec_from_file_location("bench_report", ROOT / "bench" / "report.py")
    report = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = report
    spec.loader.exec_module(report)
    with Store(url) as store:
        report.fill(store, assets, 0, spool)
        if store.engine.dialect.name == "postgresql":
            # The planner's statistics, as autovacuum gathers them on a store that filled up over
            # weeks rather than in a minute. (SQLite stores get none: the daemon never analyzes.)
            with store.engine.connect() as connection:
                connection.exec_driver_sql("ANALYZE")
                connection.commit()


def _chromium(base: str, loads: int) -> list[float]:
    from tests.browser import Unavailable, chromium

    out = []
    try:
        with chromium() as browser:
            for _ in range(loads + 1):  # a fresh context each time: an empty cache, as on first opening
                context = browser.new_context(viewport={"width": 1280, "height": 800})
                page = context.new_page()
                page.goto(base + "/", wait_until="load")
                out.append(page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd"))
                context.close()
    except Unavailable as exc:
        print(f"Chromium: skipped ({exc})")
        return []
    return out[1:]  # the first load starts the browser's processes and draws the overlays once


if __name__ == "__main__":
    raise SystemExit(main())
