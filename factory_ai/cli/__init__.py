"""The ``factory-ai`` command. Sub-commands live in one module each and delegate; heavy
imports happen inside the commands, so ``--help`` is instant and line-side commands never
load training code."""

from __future__ import annotations

import os
import sys

import typer
from typer.core import TyperGroup

from factory_ai import __version__
from factory_ai.cli import alerts, db, events, inspect, jobs, models, predict, report, review, run, samples, train
from factory_ai.cli.common import State, setup_logging
from factory_ai.errors import FactoryAIError


class _Group(TyperGroup):
    """Turns factory-ai's own errors into one line on stderr and their exit code."""

    def invoke(self, ctx):  # noqa: ANN001, ANN201
        try:
            return super().invoke(ctx)
        except FactoryAIError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None


app = typer.Typer(
    name="factory-ai",
    cls=_Group,
    help="Quality control and predictive maintenance beside the production line.\n\n"
    "Config: --config FILE, else $FACTORY_AI_CONFIG, else ./factory.toml, else defaults "
    "(SQLite at ./var/factory.db, models in ./models). Any key can be overridden with "
    "FACTORY_AI_<SECTION>__<KEY>.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"factory-ai {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: str | None = typer.Option(None, "--config", "-c", help="Plant config file (factory.toml).", metavar="FILE"),
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More log output (-vv for debug)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only warnings and errors on stderr."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    setup_logging(-1 if quiet else verbose)
    ctx.obj = State(config_path=config)


app.add_typer(db.app, name="db")
app.add_typer(train.app, name="train")
app.add_typer(models.app, name="models")
app.add_typer(samples.app, name="sample-data")
app.add_typer(jobs.app, name="jobs")
app.add_typer(alerts.app, name="alerts")
app.add_typer(review.app, name="review")
app.add_typer(events.app, name="events")
app.command("inspect", no_args_is_help=True)(inspect.inspect)
app.command("predict", no_args_is_help=True)(predict.predict)
app.command("run")(run.run)
app.command("scheduler")(jobs.scheduler)
app.command("report")(report.report)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        # The reader went away (`factory-ai inspect ... | head`): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(141)
