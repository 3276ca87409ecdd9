"""``factory-ai sample-data``: make the project's own demo and test data."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(rich_markup_mode=None, help="Generate synthetic sample data (deterministic for a seed).", no_args_is_help=True)


@app.command()
def images(
    out: Path = typer.Option(Path("sample_data/images"), "--out", help="Folder to write <class>/<file>.png into."),
    per_class: int = typer.Option(60, "--per-class", min=3, help="Images per class."),
    size: int = typer.Option(96, "--size", min=32, max=1024, help="Image side in pixels."),
    seed: int = typer.Option(7, "--seed"),
) -> None:
    """Synthetic brushed-metal parts: good, scratch, spot and crack (greyscale PNG)."""
    from factory_ai.samples.images import generate

    counts = generate(out, per_class=per_class, size=size, seed=seed)
    typer.echo(f"wrote {sum(counts.values())} images to {out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


@app.command()
def fleet(
    out: Path = typer.Option(Path("sample_data/fleet"), "--out", help="Folder to write readings.csv and events.csv into."),
    assets: int = typer.Option(12, "--assets", min=1, max=10_000, help="Number of pumps."),
    runs: int = typer.Option(4, "--runs", min=1, max=50, help="Runs per pump; all but the last end in a failure "
                             "or preventive maintenance."),
    seed: int = typer.Option(11, "--seed"),
) -> None:
    """Synthetic run-to-failure fleet: hourly vibration, temperature, pressure and current of
    pumps under changing load, wearing out, with failures and maintenance."""
    from factory_ai.samples.fleet import generate

    summary = generate(out, assets=assets, runs=runs, seed=seed)
    typer.echo(f"wrote {summary.rows} hourly rows of {summary.assets} pumps to {summary.readings}; "
               f"{summary.failures} failures and {summary.maintenance} maintenance stops in {summary.events}")
