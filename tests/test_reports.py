"""Reports: the numbers match the store, every format renders, an empty store says "no data",
and the scheduled job writes and mails the report to a real SMTP server."""

from __future__ import annotations

import csv
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from factory_ai.cli import app
from factory_ai.store import Alert, Asset, Inspection, Prediction, Review, Store, utcnow
from factory_ai.store.tables import Reading, Sensor
from tests.browser import Problems, chromium
from tests.servers import SmtpServer, Unavailable


def pdf_pages(path: Path) -> int:
    return len(re.findall(rb"/Type\s*/Page\b(?!s)", path.read_bytes()))


def fill(store: Store) -> None:
    """Two pumps (one near failure) with readings, forecasts and an alert; two lines of inspections."""
    now = utcnow()
    with store.session() as session:
        near, fine = Asset(name="pump-1", line="line1"), Asset(name="pump-2", line="line1")
        session.add_all([near, fine])
        session.flush()
        sensor = Sensor(asset_id=near.id, name="vibration", unit="mm/s", high_limit=7.0)
        session.add(sensor)
        session.flush()
        for h in range(48):
            session.add(Reading(sensor_id=sensor.id, ts=now - timedelta(hours=48 - h), value=3.0 + h * 0.05))
        for h, (rul, risk) in enumerate([(40.0, 0.3), (20.0, 0.6), (10.0, 0.8)]):
            session.add(Prediction(asset_id=near.id, ts=now - timedelta(hours=20 - 10 * h), rul=rul, rul_low=rul - 5,
                                   rul_high=rul + 5, risk=risk, horizon=48, model_name="pumps", model_version="v1"))
        session.add(Prediction(asset_id=fine.id, ts=now - timedelta(hours=1), rul=300, rul_low=250, rul_high=350,
                               risk=0.01, horizon=48, model_name="pumps", model_version="v1"))
        session.add(Alert(key="rul:pump-1", rule="rul_below", severity="critical", asset_id=near.id,
                          message="pump-1: remaining useful life 10 h"))
        rows = ([("line1", "pass", "good")] * 93 + [("line1", "reject", "crack")] * 4
                + [("line1", "reject", "scratch")] * 3 + [("line2", "pass", "good")] * 46
                + [("line2", "reject", "crack")] + [("line2", "review", "spot")] * 2 + [("line2", "error", None)])
        for i, (line, verdict, label) in enumerate(rows):
            session.add(Inspection(ts=now - timedelta(minutes=5 * i + 1), source=f"cam/{i}.png", line=line,
                                   verdict=verdict, label=label, model_name="surface", model_version="v1"))
        session.flush()
        first_review = session.exec(select(Inspection.id).where(Inspection.verdict == "review")).first()
        session.add(Review(inspection_id=first_review, label="scratch", reviewer="qa", labelled_at=now))


@pytest.fixture
def filled(plant: Path) -> Path:
    with Store(f"sqlite:///{plant / 'var' / 'factory.db'}") as store:
        fill(store)
    return plant


def test_the_report_numbers_match_the_store(filled: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(app, ["report", "--since", "3d", "--format", "md", "-o", str(filled / "r.md")])
    assert done.exit_code == 0, done.output
    text = (filled / "r.md").read_text()
    assert "2 assets: **1 P1**" in text
    fleet = [line for line in text.splitlines() if line.startswith("| pump-")]
    assert fleet[0].startswith("| pump-1 | line1 | 10.0 [5.0, 15.0] | 80.0% |")  # ranked by risk
    assert "repair before failure | P1" in fleet[0] and "critical: pump-1: remaining useful life 10 h" in fleet[0]
    assert "-1.50 h/h, as expected" in fleet[0]  # RUL fell 30 h in 20 h
    assert fleet[1].startswith("| pump-2 | line1 | 300.0 [250.0, 350.0] | 1.0% |") and "monitor | P3" in fleet[1]
    # 150 inspections, 1 error: 149 judged, 139 passed.
    assert "| inspections | 150 |" in text and f"| yield | {139 / 149:.2%} |" in text
    assert f"| line1 | 100 | 7 | {7 / 100:.2%} |" in text and f"| line2 | 49 | 1 | {1 / 49:.2%} |" in text
    assert "| crack | 5 | 62% |" in text and "| scratch | 3 | 100% |" in text
    assert "| labelled in the period | 1 |" in text and "| model agreed with the reviewer | 0.0% of 1 |" in text
    orders = list(csv.DictReader((filled / "r-work-orders.csv").open()))
    assert [(o["asset"], o["priority"], o["action"]) for o in orders] == [("pump-1", "P1", "repair before failure")]
    assert orders[0]["due_by"].endswith("Z")


def test_html_and_pdf_render_with_their_plots(filled: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["report", "--since", "3d", "-o", str(filled / "r.html")]).exit_code == 0
    page = (filled / "r.html").read_text()
    # Self-contained: plots inline, nothing fetched from anywhere.
    assert page.count("data:image/png;base64,") == 4  # defect rate, classes, Pareto, p-chart
    assert page.count("<svg") == 2  # the two asset pages' trends
    assert "predicted failure" in page and 'stroke-dasharray="4 3"' in page  # pump-1's failure and vibration limit
    assert "https://" not in page and "<script" not in page
    assert page.count("http://") == page.count('xmlns="http://www.w3.org/2000/svg"')  # namespaces, not fetches
    assert runner.invoke(app, ["report", "--since", "3d", "-f", "pdf", "-o", str(filled / "r.pdf")]).exit_code == 0
    assert (filled / "r.pdf").read_bytes().startswith(b"%PDF") and pdf_pages(filled / "r.pdf") == 1 + 2 + 4


def test_the_html_report_opens_in_chromium_without_errors(filled: Path, tmp_path: Path) -> None:
    """The report as a plant manager's browser shows it: Debian's Chromium, headless."""
    assert CliRunner().invoke(app, ["report", "--since", "3d", "-o", str(filled / "r.html")]).exit_code == 0
    try:
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            problems = Problems()
            problems.watch(page)
            page.goto((filled / "r.html").as_uri(), wait_until="load")
            images = page.eval_on_selector_all("img", "els => els.map(e => [e.complete, e.naturalWidth])")
            charts = page.eval_on_selector_all("svg", "els => els.map(e => e.getBoundingClientRect().height)")
            first_row = page.eval_on_selector("table tbody tr", "tr => [...tr.cells].map(c => c.innerText)")
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    except Unavailable as exc:
        pytest.skip(str(exc))
    assert problems.items == []
    assert len(images) == 4 and all(done and width > 0 for done, width in images)  # every PNG decoded
    assert len(charts) == 2 and all(height > 100 for height in charts)  # both asset charts laid out
    assert first_row[:4] == ["pump-1", "line1", "10.0 [5.0, 15.0]", "80.0%"] and first_row[-2] == "P1"
    assert overflow <= 0  # nothing wider than a 1280-pixel screen
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_an_empty_store_gives_no_data_sections(plant: Path) -> None:
    runner = CliRunner()
    for fmt in ("html", "md", "pdf"):
        done = runner.invoke(app, ["report", "-f", fmt, "-o", str(plant / f"empty.{fmt}")])
        assert done.exit_code == 0, done.output
    text = (plant / "empty.md").read_text()
    assert "No data: no assets in the store" in text and "No data: no inspections in the period" in text
    assert "No data: no assets" in (plant / "empty.html").read_text()
    assert pdf_pages(plant / "empty.pdf") == 1
    bad = runner.invoke(app, ["report", "--since", "7d", "--from", "2026-01-01"])
    assert bad.exit_code != 0 and "either --since or --from/--to" in bad.output


def test_the_scheduled_report_is_written_and_mailed(filled: Path) -> None:
    from factory_ai.config import load_settings
    from factory_ai.registry import Registry
    from factory_ai.scheduler.jobs import JobContext
    from factory_ai.scheduler.service import Scheduler

    try:
        smtp = SmtpServer()
    except Unavailable as exc:
        pytest.skip(str(exc))
    try:
        settings = load_settings(environ={})
        settings.reports.formats = ["html", "md"]
        settings.reports.since = "3d"
        settings.reports.email_channel = "managers"
        settings.alerts.channels = [type(settings.alerts).model_validate({"channels": [
            {"name": "managers", "kind": "email", "host": "127.0.0.1", "port": smtp.port, "from": "factory@plant.example",
             "to": ["plant-manager@plant.example"]}]}).channels[0]]
        with Store(settings.database_url) as store:
            run = Scheduler(JobContext(settings=settings, store=store, registry=Registry(settings.models_dir))).run("report")
        assert run.status == "ok", run.error
        assert run.detail["P1"] == 1 and run.detail["inspections"] == 150
        assert all(Path(f).is_file() for f in run.detail["files"])
        [message] = smtp.messages
        assert message["Subject"].endswith(f"1 asset to repair, yield {139 / 149:.1%}")
        names = sorted(part.get_filename() for part in message.walk() if part.get_filename())
        assert [Path(n).suffix for n in names] == [".csv", ".html", ".md"]
    finally:
        smtp.close()


def test_health_scores_rank_the_fleet_and_name_what_to_inspect(filled: Path) -> None:
    """A pump with no forecast trouble but a health alarm ranks above a quiet one, gets an
    "inspect: <sensors>" work order, and its health shows in the report and the console."""
    from jinja2 import Environment, FileSystemLoader

    from factory_ai.console import views
    from factory_ai.store.tables import HealthScore

    now = utcnow()
    top = [{"sensor": "vibration", "share": 0.62}, {"sensor": "temperature", "share": 0.21}]
    with Store(f"sqlite:///{filled / 'var' / 'factory.db'}") as store:
        with store.session() as session:
            fine = session.exec(select(Asset).where(Asset.name == "pump-2")).one()
            third = Asset(name="pump-3", line="line1")
            session.add(third)
            session.flush()
            for i, health in enumerate((95.0, 60.0, 30.0, 12.0)):
                session.add(HealthScore(asset_id=fine.id, ts=now - timedelta(hours=4 - i), health=health,
                                        score=3.0, alarm=health < 50, top_sensors=top, model_name="pumps-health",
                                        model_version="v1"))
                session.add(HealthScore(asset_id=third.id, ts=now - timedelta(hours=4 - i), health=97.0, score=0.9,
                                        alarm=False, top_sensors=top, model_name="pumps-health", model_version="v1"))
        done = CliRunner().invoke(app, ["report", "--since", "3d", "--format", "md", "-o", str(filled / "h.md")])
        assert done.exit_code == 0, done.output
        fleet = [line for line in (filled / "h.md").read_text().splitlines() if line.startswith("| pump-")]
        assert [row.split("|")[1].strip() for row in fleet] == ["pump-1", "pump-2", "pump-3"]
        assert "| 12 ALARM |" in fleet[1] and "inspect: vibration, temperature | P2" in fleet[1]
        assert "| 97 |" in fleet[2] and "monitor | P3" in fleet[2]
        orders = list(csv.DictReader((filled / "h-work-orders.csv").open()))
        assert [(o["asset"], o["action"], o["health"]) for o in orders][1] == (
            "pump-2", "inspect: vibration, temperature", "12")
        with store.session() as session:
            detail = views.asset(session, "pump-2", 0.5)
        env = Environment(loader=FileSystemLoader(Path(views.__file__).parent / "templates"), autoescape=True)
        env.filters.update(pct=lambda v, d=1: "–" if v is None else f"{v:.{d}%}",
                           num=lambda v, f=".1f": "–" if v is None else format(v, f),
                           when=lambda v: "–" if v is None else f"{v:%Y-%m-%d %H:%M}")
        html = env.get_template("asset.html").render(request=None, **detail)
        assert "Health 12 of 100" in html and "vibration" in html and "62.0%" in html
        assert "health (50: alarm)" in detail["chart"]


def test_vibration_zone_sits_beside_health_and_a_bad_zone_is_work(filled: Path) -> None:
    """A fan whose velocity RMS has risen into ISO 10816-3 zone D (group 2, rigid: >= 4.5 mm/s)
    gets a "check vibration" work order with the zone; one in zone B just shows its zone; the
    machine class comes from [reports]."""
    now = utcnow()
    with Store(f"sqlite:///{filled / 'var' / 'factory.db'}") as store, store.session() as session:
        for name, values in (("fan-1", [2.0, 3.5, 5.2]), ("fan-2", [1.9, 2.0, 2.1])):
            asset = Asset(name=name, line="line1")
            session.add(asset)
            session.flush()
            sensor = Sensor(asset_id=asset.id, name="motor_de_vel_rms", unit="mm/s")
            session.add(sensor)
            session.flush()
            for i, value in enumerate(values):
                session.add(Reading(sensor_id=sensor.id, ts=now - timedelta(hours=30 - 12 * i), value=value))
    done = CliRunner().invoke(app, ["report", "--since", "3d", "--format", "md", "-o", str(filled / "v.md")])
    assert done.exit_code == 0, done.output
    rows = {line.split("|")[1].strip(): line for line in (filled / "v.md").read_text().splitlines()
            if line.startswith("| fan-")}
    assert "ISO D (5.2 mm/s)" in rows["fan-1"]
    assert "check vibration: motor_de_vel_rms 5.2 mm/s, ISO zone D | P2" in rows["fan-1"]
    assert "ISO B (2.1 mm/s)" in rows["fan-2"] and "| P3 |" in rows["fan-2"]
    orders = {o["asset"]: o for o in csv.DictReader((filled / "v-work-orders.csv").open())}
    assert "fan-1" in orders and "fan-2" not in orders
    # A large machine (group 1) on a flexible foundation tolerates 5.2 mm/s: zone B, no work order.
    (filled / "factory.toml").write_text('[reports]\niso_group = "group1"\niso_foundation = "flexible"\n')
    done = CliRunner().invoke(app, ["--config", str(filled / "factory.toml"), "report", "--since", "3d", "--format",
                                    "md", "-o", str(filled / "w.md")])
    assert done.exit_code == 0, done.output
    fan = next(line for line in (filled / "w.md").read_text().splitlines() if line.startswith("| fan-1"))
    assert "ISO B (5.2 mm/s)" in fan and "| P3 |" in fan
    # The console shows the zone beside health on the fleet and the asset page.
    from jinja2 import Environment, FileSystemLoader

    from factory_ai.console import views

    env = Environment(loader=FileSystemLoader(Path(views.__file__).parent / "templates"), autoescape=True)
    env.filters.update(pct=lambda v, d=1: "–" if v is None else f"{v:.{d}%}",
                       num=lambda v, f=".1f": "–" if v is None else format(v, f),
                       when=lambda v: "–" if v is None else f"{v:%Y-%m-%d %H:%M}")
    with Store(f"sqlite:///{filled / 'var' / 'factory.db'}") as store, store.session() as session:
        shown = views.fleet(session, 0.5)
        detail = views.asset(session, "fan-1", 0.5)
    fleet_html = env.get_template("assets.html").render(request=None, **shown)
    assert re.search(r'<a href="/assets/fan-1">fan-1</a>.*?ISO D</span>', fleet_html, re.S)
    page = env.get_template("asset.html").render(request=None, **detail)
    assert "ISO 10816-3 zone D</span> (severe enough to cause damage), motor_de_vel_rms 5.20 mm/s" in page


def test_quality_counts_in_sql_agree_on_sqlite_and_postgresql(db_url: str) -> None:
    """The quality section counts in SQL per hour or day, line, verdict and label; the figures
    must be the same on both databases and match the rows (periods are UTC)."""
    from datetime import UTC, datetime

    from factory_ai.reports import quality
    from factory_ai.reports.scope import make_scope

    end = datetime(2026, 3, 4, 0, 0, tzinfo=UTC)
    rows = ([("line1", "pass", "good", 23)] * 30 + [("line1", "reject", "crack", 23)] * 3
            + [("line1", "reject", "scratch", 1)] * 2 + [("line2", "pass", "good", 2)] * 10
            + [("line2", "review", "spot", 2)] + [(None, "error", None, 2)])
    with Store(db_url) as store:
        with store.session() as session:
            for i, (line, verdict, label, hour) in enumerate(rows):
                session.add(Inspection(ts=end - timedelta(days=1, hours=hour, minutes=i % 50), source=f"c/{i}.png",
                                       line=line, verdict=verdict, label=label, model_name="m", model_version="v1"))
        with store.session() as session:
            hourly = quality.gather(session, make_scope(start="2026-03-02", end="2026-03-03"))
            daily = quality.gather(session, make_scope(start="2026-02-25", end="2026-03-03"))
    for q in (hourly, daily):
        assert q.total == 47 and q.verdicts == {"pass": 40, "reject": 5, "review": 1, "error": 1}
        assert q.yield_ == pytest.approx(40 / 46)
        assert dict(zip(q.lines["line"], q.lines["defects"], strict=True)) == {"line1": 5, "line2": 0}
        assert list(q.pareto["class"]) == ["crack", "scratch"] and list(q.pareto["count"]) == [3, 2]
    assert hourly.subgroup == "hour" and daily.subgroup == "day"
    assert sorted({t.hour for t in hourly.over_time["period"]}) == [0, 1, 21, 22]
    assert [t.tzinfo is not None for t in daily.over_time["period"]] == [True] * len(daily.over_time)
    assert sorted({(t.day, t.hour) for t in daily.over_time["period"]}) == [(2, 0)]


def test_a_page_of_the_fleet_ranks_every_asset_and_charts_only_its_own(db_url: str) -> None:
    """The console's fleet and a capped report rank every asset, but read trends only for the
    page they show; the ranking must be the one the whole gather gives, on both databases
    (the latest forecast and the RUL trend's ends are picked in SQL)."""
    from factory_ai.console import views
    from factory_ai.reports import maintenance
    from factory_ai.reports.scope import make_scope

    now = utcnow().replace(microsecond=0)
    with Store(db_url) as store:
        with store.session() as session:
            for i in range(7):
                asset = Asset(name=f"press-{i}", line="east" if i % 2 else "west")
                session.add(asset)
                session.flush()
                sensor = Sensor(asset_id=asset.id, name="temperature", unit="C")
                session.add(sensor)
                session.flush()
                session.add_all([Reading(sensor_id=sensor.id, ts=now - timedelta(hours=h), value=50.0 + i + h)
                                 for h in range(1, 6)])
                for h, rul in ((10, 100.0 + 10 * i), (2, 92.0 + 10 * i)):  # 8 h of RUL lost in 8 h: -1.00 h/h
                    session.add(Prediction(asset_id=asset.id, ts=now - timedelta(hours=h), rul=rul, rul_low=rul - 70,
                                           rul_high=rul + 5, risk=0.1 * i, horizon=48, model_name="m",
                                           model_version="v1"))
            session.flush()
            # Two forecasts at the same newest instant for press-6: the one stored last counts.
            last = session.exec(select(Asset.id).where(Asset.name == "press-6")).one()
            for rul in (30.0, 20.0):
                session.add(Prediction(asset_id=last, ts=now - timedelta(hours=1), rul=rul, rul_low=rul - 5,
                                       rul_high=rul + 5, risk=0.9, horizon=48, model_name="m", model_version="v2"))
        scope = make_scope(since="24h", now=now + timedelta(minutes=1))
        with store.session() as session:
            whole = maintenance.gather(session, scope)
            part = maintenance.gather(session, scope, detail=slice(2, 4))
            shown = views.fleet(session, 0.5, page=2, per_page=3)
            east = views.fleet(session, 0.5, line="east", per_page=50)

    def ranked(fleet: list) -> list:
        return [(h.asset, h.rul, h.risk, h.trend, h.action, h.priority, h.model) for h in fleet]

    assert ranked(part.fleet) == ranked(whole.fleet)
    top = whole.fleet[0]
    assert (top.asset, top.rul, top.model, top.trend) == ("press-6", 20.0, "m v2", pytest.approx((20 - 160) / 9))
    assert whole.fleet[1].trend == pytest.approx(-1.0)
    assert [p.health.asset for p in part.pages] == [h.asset for h in whole.fleet[2:4]]
    for page in part.pages:
        full = next(p for p in whole.pages if p.health.asset == page.health.asset)
        assert list(page.sensors["temperature"]["mean"]) == list(full.sensors["temperature"]["mean"])
        assert list(page.rul["rul"]) == list(full.rul["rul"])
    assert [r["health"].asset for r in shown["rows"]] == [h.asset for h in whole.fleet[3:6]]
    assert shown["total"] == 7 and shown["pager"] == {"page": 2, "pages": 3, "first": 4}
    assert all(r["sparklines"] for r in shown["rows"]) and shown["lines"] == ["east", "west"]
    assert {r["health"].asset for r in east["rows"]} == {"press-1", "press-3", "press-5"}


def test_a_capped_report_charts_the_worst_assets_and_says_so(filled: Path) -> None:
    from factory_ai.reports.build import build
    from factory_ai.reports.render import write
    from factory_ai.reports.scope import make_scope

    with Store(f"sqlite:///{filled / 'var' / 'factory.db'}") as store:
        report = build(store, make_scope(since="3d"), asset_pages=1)
    page = write(report, "html", filled / "capped.html").read_text()
    assert len(report.maintenance.fleet) == 2 and page.count("<div class='asset'>") == 1
    assert "<h3>pump-1 " in page and "Charts follow for the 1 worst-ranked of the 2 assets" in page
    assert "| pump-2 " not in page and ">pump-2</td>" in page  # still in the fleet table
