"""``factory-ai events``: record failures and maintenance, the truth the forecast learns from."""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(rich_markup_mode=None, no_args_is_help=True,
                  help="Failures and maintenance per asset. Each ends a run that remaining useful life "
                  "counts to; new ones let retrain-forecast train a challenger.")


@app.command("add", no_args_is_help=True)
def add(ctx: typer.Context, asset: str = typer.Argument(..., help="Asset name, as the connectors name it."),
        kind: str = typer.Option(..., "--kind", help="failure or maintenance.", show_default=False),
        at: str = typer.Option(None, "--at", help="When, ISO 8601 (UTC when no zone is given). Default: now."),
        note: str = typer.Option(None, "--note", help="Free text: what broke, what was replaced.")) -> None:
    """Record one failure or maintenance."""
    from factory_ai import events

    store = ctx.obj.store()
    with store.session() as session:
        done = events.record(session, asset, kind, events.parse_time(at), note)
        line = f"{done.event.kind} of {done.asset} at {done.event.ts.isoformat()}"
    typer.echo(("recorded " if done.created else "already recorded: ") + line)
    store.close()


@app.command("import", no_args_is_help=True)
def import_file(ctx: typer.Context,
                path: Path = typer.Argument(..., exists=True, dir_okay=False,
                                            help="CSV with columns asset, time, kind (and optionally note), "
                                            "as a CMMS export or `train forecast --events` uses.")) -> None:
    """Record every event in a CSV file (all or nothing; events already recorded are skipped)."""
    from factory_ai import events

    store = ctx.obj.store()
    with store.session() as session:
        counts = events.import_csv(session, path)
    typer.echo(f"{counts['added']} events added, {counts['already_recorded']} already recorded")
    store.close()


@app.command("list")
def list_events(ctx: typer.Context, asset: str | None = typer.Option(None, "--asset"),
                limit: int = typer.Option(50, "--limit", "-n", min=1),
                as_json: bool = typer.Option(False, "--json", help="One JSON object per line.")) -> None:
    """Recorded events, newest first."""
    from factory_ai import events

    store = ctx.obj.store()
    with store.session() as session:
        rows = [events.describe(event, name) for event, name in events.listing(session, asset, limit)]
    for row in rows:
        typer.echo(json.dumps(row) if as_json else
                   f"{row['id']:>6} {row['ts'][:19]}Z {row['asset']:<16} {row['kind']:<12} {row['note'] or ''}")
    if not rows and not as_json:
        typer.echo("no events recorded")
    store.close()
