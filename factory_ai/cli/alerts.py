"""``factory-ai alerts``: see, acknowledge and resolve alerts; check the rules now."""

from __future__ import annotations

import json

import typer

from factory_ai.registry import current_user

app = typer.Typer(rich_markup_mode=None, no_args_is_help=True,
                  help="Alerts raised by the rules in [alerts]: list, acknowledge, resolve, check now.")


@app.command("list")
def list_alerts(ctx: typer.Context,
                every: bool = typer.Option(False, "--all", help="Resolved ones too (newest 100)."),
                as_json: bool = typer.Option(False, "--json", help="One JSON object per line.")) -> None:
    """Open and acknowledged alerts, most severe first."""
    from factory_ai.alerts import engine
    from factory_ai.alerts.config import SEVERITY_RANK

    store = ctx.obj.store()
    with store.session() as session:
        rows = engine.listing(session, open_only=not every)
    rows = sorted(rows, key=lambda r: (r[0].status == "resolved", -SEVERITY_RANK.get(r[0].severity, 0), -r[0].id))
    for alert, asset in rows:
        if as_json:
            typer.echo(json.dumps(engine.describe(alert, asset)))
        else:
            typer.echo(f"{alert.id:>5} {alert.severity:<8} {alert.status:<12} x{alert.count:<4} "
                       f"{alert.last_seen:%Y-%m-%d %H:%M}Z  {alert.message}")
    if not rows and not as_json:
        typer.echo("no alerts" if every else "no open alerts")
    store.close()


@app.command("ack", no_args_is_help=True)
def ack(ctx: typer.Context, alert_id: int = typer.Argument(..., help="Alert id (from `alerts list`)."),
        by: str = typer.Option(None, "--by", help="Who is on it (default: your user name).")) -> None:
    """Acknowledge an alert: someone is on it, so channels stop hearing repeats."""
    from factory_ai.alerts import engine
    from factory_ai.store.types import utcnow

    store = ctx.obj.store()
    with store.session() as session:
        alert = engine.acknowledge(session, alert_id, by or current_user(), utcnow())
    typer.echo(f"alert {alert.id} acknowledged by {alert.acknowledged_by}")
    store.close()


@app.command("resolve", no_args_is_help=True)
def resolve(ctx: typer.Context, alert_id: int = typer.Argument(...),
            by: str = typer.Option(None, "--by", help="Who resolved it (default: your user name).")) -> None:
    """Resolve an alert by hand (channels hear of it); a condition that persists raises a new one."""
    from factory_ai import alerts
    from factory_ai.alerts import engine
    from factory_ai.store.types import utcnow

    settings = ctx.obj.settings
    store = ctx.obj.store()
    with store.session() as session:
        alert = engine.resolve(session, alert_id, by or current_user(), utcnow(), settings.alerts)
    alerts.flush(store, settings.alerts)
    typer.echo(f"alert {alert.id} resolved")
    store.close()
