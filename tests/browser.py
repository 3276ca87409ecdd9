"""A real browser for tests: Debian's Chromium, driven by Playwright.

Playwright is pointed at the system's ``/usr/bin/chromium`` (or ``$FACTORY_AI_CHROMIUM``) and
never downloads a browser of its own, so the tests see the Chromium a plant's PCs would run.
:func:`chromium` raises :class:`Unavailable` with the reason when either part is missing, so a
test skips with a message instead of failing.

Also a command, for the README's screenshots::

    python -m tests.browser var/demo/report.html docs/report.png [--width 1280 --height 800]
"""

from __future__ import annotations

import argparse
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.servers import Unavailable


def executable() -> str:
    """The system Chromium, or the reason there is none."""
    named = os.environ.get("FACTORY_AI_CHROMIUM")
    found = named or shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if not found or not Path(found).exists():
        raise Unavailable("chromium is not installed (apt-get install chromium, or set FACTORY_AI_CHROMIUM)")
    return found


@dataclass
class Problems:
    """Everything a page reported going wrong: console errors and warnings, uncaught script
    errors, and requests that failed or were refused."""

    items: list[str] = field(default_factory=list)

    def watch(self, page: Any) -> None:  # noqa: ANN401 - a playwright Page
        page.on("console", lambda m: self.items.append(f"console {m.type}: {m.text}")
                if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: self.items.append(f"page error: {e}"))
        # ERR_ABORTED is the browser cancelling a request itself (leaving a page with a live
        # event stream open); every other failure is a problem.
        page.on("requestfailed", lambda r: self.items.append(f"request failed: {r.url} ({r.failure})")
                if "ERR_ABORTED" not in (r.failure or "") else None)
        page.on("response", lambda r: self.items.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium browser for the length of the block."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError as exc:
        raise Unavailable(f"playwright is not installed ({exc}); pip install -e '.[dev]'") from exc
    path = executable()
    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=path, headless=True)
        except Error as exc:
            raise Unavailable(f"{path} would not start: {str(exc).splitlines()[0]}") from exc
        try:
            yield browser
        finally:
            browser.close()


def screenshot(target: str, out: Path, width: int = 1280, height: int = 800, full_page: bool = False) -> list[str]:
    """Open ``target`` (a URL or a file) and save a PNG of it; returns the page's problems."""
    url = target if "://" in target else Path(target).resolve().as_uri()
    with chromium() as browser:
        page = browser.new_page(viewport={"width": width, "height": height})
        problems = Problems()
        problems.watch(page)
        page.goto(url, wait_until="load")
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out), full_page=full_page)
    return problems.items


def main() -> int:
    parser = argparse.ArgumentParser(description="Save a screenshot of a page in headless Chromium.")
    parser.add_argument("target", help="URL or HTML file")
    parser.add_argument("out", type=Path, help="PNG to write")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=800)
    parser.add_argument("--full-page", action="store_true")
    args = parser.parse_args()
    problems = screenshot(args.target, args.out, args.width, args.height, args.full_page)
    for line in problems:
        print(line)
    print(f"wrote {args.out}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
