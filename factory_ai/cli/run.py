"""``factory-ai run``: the plant daemon."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

log = logging.getLogger(__name__)


def run(
    ctx: typer.Context,
    duration: float | None = typer.Option(None, "--duration", min=0.1, help="Stop after this many seconds "
                                          "(demos, tests). Default: run until SIGTERM or Ctrl-C."),
    connectors: list[Path] = typer.Option([], "--connectors", help="Connector file or folder (repeatable). "
                                          "Default: [daemon] connectors, else every *.toml in connectors/."),
    forecast_model: str | None = typer.Option(None, "--forecast-model", help="Score every asset with this "
                                              "forecast model (overrides [daemon] forecast_model)."),
    forecast_interval: float | None = typer.Option(None, "--forecast-interval", min=0.1,
                                                   help="Seconds between scoring runs."),
    api: bool | None = typer.Option(None, "--api/--no-api", help="Serve the HTTP API (default: [api] enabled)."),
    host: str | None = typer.Option(None, "--host", help="API listen address (default 127.0.0.1)."),
    port: int | None = typer.Option(None, "--port", min=0, max=65535, help="API port (default 8080; 0 = any free)."),
) -> None:
    """Run the plant daemon: connectors, live inspection, forecast scoring, HTTP API.

    Readings from every connector are stored in batches (spooled to disk while the database
    is away). Images from camera folders and POST /api/v1/inspect are judged by the current
    vision model, and verdicts published to MQTT topics and OPC UA reject nodes. Every asset
    is forecast on an interval. Promoted models are picked up without a restart.

    API (127.0.0.1:8080 by default): /health, /metrics (Prometheus), /api/v1/assets,
    /api/v1/inspections, /api/v1/predictions, POST /api/v1/inspect (bearer token), /docs.
    The operator console is at / on the same port (line view, review queue, assets, alerts,
    models and jobs); labelling and acknowledging need [api] token, given once at /login.

    SIGTERM or Ctrl-C stops it cleanly within 10 s: intake stops, queues are drained into
    the store (or the spool), and a summary is printed.
    """
    from factory_ai.daemon import memory

    memory.restart_on_system_malloc()  # malloc gives a burst's memory back (daemon/memory.py)
    log.info("Python objects on %s; malloc capped at %d arenas: %s", memory.allocator(), memory.ARENAS,
             "yes" if memory.limit_arenas() else "no (set by the operator, or not glibc)")  # before any thread
    from factory_ai.daemon.service import Daemon, load_connectors

    settings = ctx.obj.settings
    if forecast_model is not None:
        settings.daemon.forecast_model = forecast_model
    if forecast_interval is not None:
        settings.daemon.forecast_interval_seconds = forecast_interval
    if api is not None:
        settings.api.enabled = api
    if host is not None:
        settings.api.host = host
    if port is not None:
        settings.api.port = port
    configs = load_connectors(settings, list(connectors))
    for config in configs:
        log.info("connector %s (%s)%s", config.name, config.kind, "" if config.enabled else ": disabled")
    from factory_ai.daemon.first_run import adopt_and_explain

    for line in adopt_and_explain(settings, ctx.obj.registry(), configs):
        log.warning("%s", line)
    try:
        daemon = Daemon(settings, configs)
    except OSError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    try:
        summary = daemon.run(duration)
    except OSError as exc:  # the API port is taken, and the like: stop what started, then say why
        daemon.stop()
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo("\n".join(summary.lines()))
    if not summary.clean:
        raise typer.Exit(1)
