"""``factory-ai report``: the maintenance and quality report, from the store."""

from __future__ import annotations

from pathlib import Path

import typer


def report(
    ctx: typer.Context,
    since: str | None = typer.Option(None, "--since", help="Period ending now: 7d, 24h, 2w (default 7d)."),
    start: str | None = typer.Option(None, "--from", help="Start date or ISO time (UTC), instead of --since."),
    end: str | None = typer.Option(None, "--to", help="End date (that whole day) or ISO time; default now."),
    assets: list[str] = typer.Option([], "--assets", help="Only these assets (repeatable, or comma-separated)."),
    lines: list[str] = typer.Option([], "--lines", help="Only these lines (repeatable, or comma-separated)."),
    fmt: str = typer.Option("html", "--format", "-f", help="html (self-contained, plots inline), pdf or md."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Report file; the work-orders CSV is written "
                                       "beside it. Default: [reports] dir / report-DATE.FORMAT."),
) -> None:
    """Write the maintenance and quality report for a period.

    Maintenance: the fleet ranked by risk (RUL with its interval, risk within the horizon, trend,
    last alert, recommended action and due date), a page per asset (sensor trends with limits and
    the predicted failure, RUL history, alerts), and a work-orders CSV for the CMMS. Quality:
    yield, defect rate per line and class over time, Pareto, p-chart with Western Electric
    violations, review-queue figures, model versions and drift. Sections without data say so.
    """
    from factory_ai.reports.job import produce
    from factory_ai.reports.render import FORMATS
    from factory_ai.reports.scope import make_scope

    if fmt not in FORMATS:
        raise typer.BadParameter(f"use {', '.join(FORMATS)}", param_hint="--format")
    split = lambda values: [v.strip() for item in values for v in item.split(",") if v.strip()]  # noqa: E731
    scope = make_scope(since, start, end, split(assets), split(lines))
    settings = ctx.obj.settings
    folder, stem = (output.parent, output.stem) if output else (settings.resolve(settings.reports.dir), None)
    store = ctx.obj.store()
    try:
        result, files = produce(store, scope, [fmt], folder, stem=stem, risk_alarm=settings.reports.risk_alarm,
                                machine_class=settings.reports.machine_class,
                                asset_pages=settings.reports.asset_pages)
    finally:
        store.close()
    if output is not None and files[0] != output:
        files[0].rename(output)
        files[0] = output
    counts = result.maintenance.priorities()
    typer.echo(f"report: {files[0]}\nwork orders: {files[1]} ({counts['P1'] + counts['P2']} assets)\n"
               f"{len(result.maintenance.fleet)} assets (P1 {counts['P1']}, P2 {counts['P2']}), "
               f"{result.quality.total} inspections, {result.scope.describe()}")
