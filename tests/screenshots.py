"""The README's console pictures, taken from what ``make demo`` left behind.

Starts the daemon in this process on the demo's store and models (camera folder only, no
replay, API on a free port), sends it a few sample parts so the line view has fresh images and
heatmaps in memory, flags one for review, and saves the pages at 1280x800 with headless
Chromium. ``make screenshots`` runs it after the report's picture::

    python -m tests.screenshots var/demo docs
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

from tests.browser import Problems, chromium

TOKEN = "screenshots"
PAGES = [("/", "console-line.png"), ("/review", "console-review.png"), ("/assets", "console-assets.png"),
         ("/models", "console-models.png")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("demo", type=Path, help="the folder make demo wrote (var/demo)")
    parser.add_argument("out", type=Path, help="where the PNGs go (docs)")
    args = parser.parse_args()
    demo, out = args.demo.resolve(), args.out.resolve()
    if not (demo / "factory.db").is_file():
        raise SystemExit(f"{demo / 'factory.db'} not found: run make demo first")

    from factory_ai.config import load_settings
    from factory_ai.connectors.config import ImageFolder
    from factory_ai.daemon.service import Daemon

    camera = demo / "screenshot-camera"
    shutil.rmtree(camera, ignore_errors=True)
    camera.mkdir()
    environ = {**os.environ, "FACTORY_AI_STORE__URL": f"sqlite:///{demo / 'factory.db'}",
               "FACTORY_AI_MODELS__DIR": str(demo / "models"), "FACTORY_AI_API__PORT": "0",
               "FACTORY_AI_API__TOKEN": TOKEN, "FACTORY_AI_SCHEDULER__ENABLED": "false",
               "FACTORY_AI_DAEMON__SPOOL_DIR": str(demo / "screenshot-spool")}
    settings = load_settings(None, environ=environ)
    folder = ImageFolder(kind="image-folder", name="camera", path=camera, line="demo-line", settle_seconds=0.1)
    daemon = Daemon(settings, [folder])
    daemon.start()
    try:
        parts = sorted(Path("sample_data/images").rglob("*.png"))
        for i, part in enumerate(parts[:: max(len(parts) // 12, 1)][:12]):
            shutil.copyfile(part, camera / f"part-{i:02d}.png")
        deadline = time.monotonic() + 30
        while daemon.inspector.judged < 12 and time.monotonic() < deadline:
            time.sleep(0.1)
        daemon.results.flush()
        host, port = daemon.api_address
        base = f"http://{host}:{port}"
        out.mkdir(parents=True, exist_ok=True)
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            problems = Problems()
            problems.watch(page)
            page.goto(base + "/login?next=/", wait_until="load")
            page.fill("input[name=token]", TOKEN)
            page.click("form.login button")
            page.wait_for_url(base + "/")
            flag = page.locator("article.card button.flag").first
            if flag.count():
                flag.click()
                page.wait_for_selector("article.card .flagged")
            for path, name in PAGES:
                page.goto(base + path, wait_until="load")
                page.wait_for_timeout(300)
                page.screenshot(path=str(out / name))
                print(f"wrote {out / name}")
            page.goto(base + "/assets", wait_until="load")
            links = page.eval_on_selector_all("table.fleet a", "links => links.map(a => a.getAttribute('href'))")
            if links:  # the riskiest asset's page
                page.goto(base + links[0], wait_until="load")
                page.screenshot(path=str(out / "console-asset.png"))
                print(f"wrote {out / 'console-asset.png'}")
        for line in problems.items:
            print(line)
        return 1 if problems.items else 0
    finally:
        daemon.stop()
        shutil.rmtree(camera, ignore_errors=True)
        shutil.rmtree(demo / "screenshot-spool", ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
