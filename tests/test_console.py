"""The operator console, served by a real daemon: over HTTP, and in Debian's headless Chromium.

The daemon runs on the demo models with a camera folder and the pump replay (as in
test_daemon). The browser test opens every page, watches the live line view take a new part
from the camera folder, flags it, labels it in the review queue with the keyboard, and
acknowledges an alert; screenshots land in the test's own folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from factory_ai.config import load_settings
from factory_ai.connectors.config import load_file
from factory_ai.daemon.service import Daemon
from factory_ai.store.tables import Alert, Asset, Inspection, Review
from tests.browser import Problems, chromium
from tests.servers import Unavailable, wait_until
from tests.test_daemon import TOKEN, images, write_plant

pytestmark = pytest.mark.slow
PAGES = ["/", "/review", "/assets", "/alerts", "/models"]


@pytest.fixture
def console(tmp_path: Path, fleet: Path, sample_images: Path):
    """A running daemon with two judged parts, one open alert on a pump, and its base URL."""
    config = write_plant(tmp_path, fleet, catch_up_hours=30)  # a day of readings behind the sparklines
    settings = load_settings(config, environ={})
    daemon = Daemon(settings, [load_file(p) for p in sorted((tmp_path / "connectors").glob("*.toml"))])
    daemon.start()
    try:
        # copyfile, not copy: copy's chmod after the write races the watcher, which may already
        # have judged the finished PNG and moved it to processed/.
        for i, path in enumerate(images(sample_images, 2)):
            shutil.copyfile(path, tmp_path / "camera" / f"first-{i}.png")
        assert wait_until(lambda: daemon.inspector.judged == 2)
        assert wait_until(lambda: daemon.scorer.runs >= 1, 30)
        daemon.results.flush()
        with daemon.store.session() as session:
            pump = session.exec(select(Asset).order_by(Asset.name)).first()
            session.add(Alert(key=f"rul:{pump.name}", rule="rul_below", severity="critical", asset_id=pump.id,
                              message=f"{pump.name}: remaining useful life low"))
        host, port = daemon.api_address
        daemon.base_url = f"http://{host}:{port}"
        daemon.camera = tmp_path / "camera"
        yield daemon
    finally:
        daemon.stop()


def test_pages_stream_and_actions_over_http(console: Daemon, sample_images: Path) -> None:
    client = httpx.Client(base_url=console.base_url, timeout=10)
    for path in PAGES:
        page = client.get(path)
        assert page.status_code == 200, (path, page.text[:300])
        assert page.headers["content-type"].startswith("text/html") and "factory-ai" in page.text
    assert "first-0.png" in client.get("/").text  # the judged parts are on the line view
    assert client.get("/assets/no-such-pump", headers={"Accept": "text/html"}).status_code == 404
    # Two lines' press-1: each has its page under line/name; the bare name asks which one.
    with console.store.session() as session:
        session.add_all([Asset(name="press-1", line="east"), Asset(name="press-1", line="west")])
    assert '<a href="/assets/east%2Fpress-1">east/press-1</a>' in client.get("/assets").text
    west = client.get("/assets/west/press-1", headers={"Accept": "text/html"})
    assert west.status_code == 200 and "west/press-1" in west.text
    both = client.get("/assets/press-1", headers={"Accept": "text/html"})
    assert both.status_code == 422 and "east/press-1, west/press-1" in both.text
    assert client.get("/console/static/console.js").status_code == 200

    # The live stream: a part dropped into the camera folder arrives as an event.
    with client.stream("GET", "/console/stream") as stream:
        lines = stream.iter_lines()
        assert next(lines).startswith("retry:")
        shutil.copyfile(images(sample_images, 3)[2], console.camera / "live.png")
        event = None
        for line in lines:
            if line.startswith("data: "):
                event = json.loads(line[6:])
                break
    assert event["source"].endswith("live.png") and event["verdict"] in ("pass", "reject", "review")
    assert client.get(f"/console/recent/{event['seq']}/image").headers["content-type"] == "image/png"
    assert client.get(f"/console/recent/{event['seq']}/overlay").headers["content-type"] == "image/png"

    # Actions need the login cookie; a wrong token is refused.
    assert client.post("/console/flag", json={"seq": event["seq"]}).status_code == 401
    wrong = client.post("/login", data={"token": "nope"}, follow_redirects=False)
    assert wrong.status_code == 303 and "error" in wrong.headers["location"]
    right = client.post("/login", data={"token": TOKEN, "next": "https://evil.example/"}, follow_redirects=False)
    assert right.status_code == 303 and right.headers["location"] == "/"  # never an open redirect
    assert "httponly" in right.headers["set-cookie"].lower() and TOKEN not in right.headers["set-cookie"]
    flagged = client.post("/console/flag", json={"seq": event["seq"]})
    assert flagged.status_code == 200, flagged.text
    with console.store.session() as session:
        review = session.exec(select(Review).where(Review.inspection_id == flagged.json()["inspection_id"])).one()
        assert review.flagged and review.label is None
    assert client.post(f"/console/review/{review.inspection_id}", json={"label": "no-such-class"}).status_code == 422


def test_writes_are_refused_without_a_token(tmp_path: Path, fleet: Path) -> None:
    config = write_plant(tmp_path, fleet)
    config.write_text(config.read_text().replace(f'token = "{TOKEN}"\n', ""))
    daemon = Daemon(load_settings(config, environ={}), [])
    daemon.start()
    try:
        host, port = daemon.api_address
        client = httpx.Client(base_url=f"http://{host}:{port}", timeout=10)
        assert "read-only" in client.get("/").text
        refused = client.post("/console/alerts/1/acknowledge")
        assert refused.status_code == 403 and "[api] token" in refused.json()["detail"]
    finally:
        daemon.stop()


def test_the_console_in_chromium(console: Daemon, sample_images: Path, tmp_path: Path) -> None:
    shots = tmp_path / "screenshots"
    try:
        with chromium() as browser:
            _walk_the_console(browser, console, sample_images, shots)
    except Unavailable as exc:
        pytest.skip(str(exc))
    assert len(list(shots.glob("*.png"))) >= 7


def _walk_the_console(browser, console: Daemon, sample_images: Path, shots: Path) -> None:  # noqa: ANN001
    shots.mkdir()
    base = console.base_url
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    problems = Problems()
    problems.watch(page)

    # Every page opens cleanly and fits a 1280-pixel screen.
    for path in PAGES:
        page.goto(base + path, wait_until="load")
        assert page.evaluate("document.documentElement.scrollWidth <= innerWidth"), f"{path} is wider than 1280 px"
        page.screenshot(path=str(shots / f"{path.strip('/') or 'line'}.png"), full_page=True)
    page.goto(base + "/assets", wait_until="load")
    rows = page.locator("table.fleet tbody tr")
    shown = page.eval_on_selector_all("table.fleet tbody tr td:first-child a", "links => links.map(a => a.textContent)")
    with console.store.session() as session:  # the replay keeps adding pumps: each shown is stored
        assert shown and set(shown) <= set(session.exec(select(Asset.name)).all())
    rows.first.locator("a").click()
    page.wait_for_load_state("load")
    assert page.locator(".chart svg").count() == 1
    page.screenshot(path=str(shots / "asset.png"), full_page=True)

    # The line view updates live when a part arrives in the camera folder, without a reload.
    page.goto(base + "/", wait_until="load")
    page.wait_for_selector("#live-state.ok", timeout=10_000)
    before = int(page.locator('.stat[data-window="hour"] [data-field="total"]').inner_text())
    page.evaluate("window.__unchanged = true")
    shutil.copyfile(images(sample_images, 4)[3], console.camera / "arrives.png")
    card = page.wait_for_selector("article.card.new", timeout=15_000)
    assert "arrives.png" in card.inner_text()
    page.wait_for_function(f"document.querySelector('.stat[data-window=\"hour\"] [data-field=\"total\"]')"
                           f".textContent === '{before + 1}'", timeout=10_000)
    assert page.evaluate("window.__unchanged") is True  # the same document: updated, not reloaded
    page.wait_for_function("document.querySelector('article.card.new img')?.naturalWidth > 0", timeout=10_000)
    page.screenshot(path=str(shots / "line-live.png"))

    # Log in, flag that part from the line view, and label it in the review queue by keyboard.
    page.goto(base + "/login?next=/", wait_until="load")
    page.fill("input[name=token]", TOKEN)
    page.click("form.login button")
    page.wait_for_url(base + "/")
    page.wait_for_selector("#live-state.ok", timeout=10_000)
    shutil.copyfile(images(sample_images, 5)[4], console.camera / "doubtful.png")
    page.wait_for_selector("article.card.new button.flag", timeout=15_000).click()
    page.wait_for_selector("article.card.new .flagged", timeout=10_000)
    page.goto(base + "/review", wait_until="load")
    with console.store.session() as session:
        flagged = session.exec(select(Inspection).where(Inspection.source.like("%doubtful.png"))).one()
    item = page.locator(f'.item[data-id="{flagged.id}"]')
    assert item.count() == 1
    item.click()
    first_class = item.locator("button.label").first.get_attribute("data-label")
    page.screenshot(path=str(shots / "review.png"), full_page=True)
    page.keyboard.press("1")
    page.wait_for_selector(f'.item[data-id="{flagged.id}"]', state="detached", timeout=10_000)
    with console.store.session() as session:
        review = session.exec(select(Review).where(Review.inspection_id == flagged.id)).one()
    assert review.label == first_class and review.reviewer == "console"

    # Acknowledge the open alert.
    page.goto(base + "/alerts", wait_until="load")
    page.click("button.alert-action[data-action=acknowledge]")
    page.wait_for_function("document.querySelector('tr.st-acknowledged') !== null", timeout=10_000)
    with console.store.session() as session:
        alert = session.exec(select(Alert)).one()
    assert alert.status == "acknowledged" and alert.acknowledged_by == "console"
    page.screenshot(path=str(shots / "alerts.png"), full_page=True)

    # A 10-inch panel (1024x600): every page still fits across.
    small = browser.new_page(viewport={"width": 1024, "height": 600})
    problems.watch(small)
    for path in PAGES:
        small.goto(base + path, wait_until="load")
        assert small.evaluate("document.documentElement.scrollWidth <= innerWidth"), f"{path} overflows 1024 px"
    assert problems.items == [], "\n".join(problems.items)
