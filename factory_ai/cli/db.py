"""``factory-ai db``: create, upgrade and check the store."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(rich_markup_mode=None, help="Create, upgrade and check the database.", no_args_is_help=True)


@app.command()
def init(ctx: typer.Context) -> None:
    """Create the schema in an empty database (SQLite file or PostgreSQL database)."""
    from factory_ai.store.schema import HEAD

    store = ctx.obj.store()
    typer.echo(f"database ready: {store.where} (schema {HEAD})")
    store.close()


@app.command()
def upgrade(ctx: typer.Context) -> None:
    """Apply schema migrations to an existing database. Back the database up first."""
    from factory_ai.store import Store
    from factory_ai.store.schema import HEAD, current_revision
    from factory_ai.store.schema import upgrade as run_upgrade

    settings = ctx.obj.settings
    store = Store(settings.database_url, check_schema=False)
    with store.engine.connect() as conn:
        before = current_revision(conn)
    run_upgrade(store.engine)
    typer.echo(f"{store.where}: schema {before or 'none'} -> {HEAD}")
    store.close()


@app.command()
def status(ctx: typer.Context) -> None:
    """Show where the database is, its schema version and how many rows each table holds."""
    from sqlalchemy import func, select
    from sqlmodel import SQLModel

    from factory_ai.store import Store
    from factory_ai.store.schema import HEAD, current_revision

    store = Store(ctx.obj.settings.database_url, check_schema=False)
    with store.engine.connect() as conn:
        found = current_revision(conn)
        typer.echo(f"database: {store.where}")
        typer.echo(f"schema:   {found or 'not initialised'} (this factory-ai: {HEAD})")
        if found == HEAD:
            for table in SQLModel.metadata.sorted_tables:
                count = conn.scalar(select(func.count()).select_from(table))
                typer.echo(f"  {table.name:<16} {count:>10,}")
    store.close()


@app.command("import-readings", no_args_is_help=True)
def import_readings(
    ctx: typer.Context,
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV or Parquet export: wide (one column "
                                "per sensor) or long (sensor, value columns), with timestamps."),
    asset_col: str = typer.Option("asset", "--asset-column"),
    time_col: str = typer.Option("time", "--time-column", help="Column with ISO 8601 timestamps (UTC when no zone)."),
) -> None:
    """Backfill past readings with their own timestamps (a historian export), so that recorded
    failures line up with them and the forecast can be retrained from the store.
    Unreadable values are refused and counted; importing the same file again adds nothing."""
    from factory_ai.history.readers import read
    from factory_ai.ingest.backfill import backfill

    fmt = "parquet" if path.suffix.lower() == ".parquet" else "csv"
    history, notes = read(path, fmt, asset_col=asset_col, time_col=time_col)
    for note in notes:
        typer.echo(f"note: {note}", err=True)
    store = ctx.obj.store()
    stats = backfill(store, history, ctx.obj.settings.resolve(ctx.obj.settings.daemon.spool_dir))
    typer.echo(f"{stats.written} readings written to {store.where} ({len(history.assets())} assets, "
               f"{len(history.columns)} sensors), {stats.duplicates} already there, {stats.rejected} refused"
               + (f", {stats.spooled_rows} waiting in the spool" if stats.spooled_rows else ""))
    store.close()
