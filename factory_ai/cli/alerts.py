"""``factory-ai alerts``: see, acknowledge and resolve alerts; check the rules now."""

from __future__ import annotations

import getpass
import json

import typer

app = typer.Typer(rich_markup_mode=None, no_args_is_help=True,
                  help="Alerts raised by the rules in [alerts]: list, acknowledge, resolve, check now.")


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user database in some containers
        return "unknown"


@app.command("list")
def list_alerts(ctx: typer.Context,
                every: bool = typer.Option(False, "--all", help="Resolved ones too (newest 100)."),
                as_json: bool = typer.Option(False, "--json", help="One JSON object per line.")) -> None:
    """Open and acknowledged alerts, most severe first."""
    from sqlmodel import select

    from factory_ai.alerts.config import SEVERITY_RANK
    from factory_ai.store.tables import Alert, Asset

    store = ctx.obj.store()
    with store.session() as session:
        query = select(Alert, Asset.name).join(Asset, Asset.id == Alert.asset_id, isouter=True)
        if not every:
            query = query.where(Alert.status != "resolved")
        rows = session.exec(query.order_by(Alert.id.desc()).limit(100)).all()
    rows = sorted(rows, key=lambda r: (r[0].status == "resolved", -SEVERITY_RANK.get(r[0].severity, 0), -r[0].id))
    for alert, asset in rows:
        if as_json:
            typer.echo(json.dumps({"id": alert.id, "key": alert.key, "rule": alert.rule, "severity": alert.severity,
                                   "status": alert.status, "asset": asset, "line": alert.line, "count": alert.count,
                                   "first_seen": alert.first_seen.isoformat(), "last_seen": alert.last_seen.isoformat(),
                                   "message": alert.message}))
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
        alert = engine.acknowledge(session, alert_id, by or _user(), utcnow())
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
        alert = engine.resolve(session, alert_id, by or _user(), utcnow(), settings.alerts)
    alerts.flush(store, settings.alerts)
    typer.echo(f"alert {alert.id} resolved")
    store.close()
