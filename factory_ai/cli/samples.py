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


@app.command()
def parts(
    out: Path = typer.Option(Path("var/parts"), "--out", help="Folder to write <class>/<file>.png into."),
    counts: str = typer.Option("good=280,scratch=60,spot=40,crack=30,pit=20,stain=14", "--counts",
                               help="Images per class, as class=n pairs (classes: good, scratch, spot, crack, pit, stain)."),
    sides: str = typer.Option("130,610", "--sides", help="Smallest and largest long side of a frame, in pixels."),
    aspect: str = typer.Option("1,2.5", "--aspect", help="Smallest and largest ratio of long to short side."),
    masks: Path | None = typer.Option(None, "--masks", help="Also write each defect's mask to MASKS/<class>/<file>.png."),
    seed: int = typer.Option(5, "--seed"),
) -> None:
    """Synthetic parts as a plant's camera delivers them: frames of any size and aspect ratio,
    small low-contrast flaws (sized in pixels, not in fractions of the frame), mostly good parts."""
    from factory_ai.samples.parts import DEFECTS, generate

    try:
        wanted = {k.strip(): int(v) for k, v in (pair.split("=") for pair in counts.split(",") if pair.strip())}
        low, high = (int(v) for v in sides.split(","))
        a_low, a_high = (float(v) for v in aspect.split(","))
    except ValueError:
        raise typer.BadParameter("counts as class=n,...; sides as low,high; aspect as low,high") from None
    unknown = sorted(set(wanted) - {"good", *DEFECTS})
    if unknown:
        raise typer.BadParameter(f"unknown classes {unknown}", param_hint="--counts")
    if not 16 <= low <= high or not 1 <= a_low <= a_high:
        raise typer.BadParameter("need 16 <= low <= high and 1 <= aspect low <= aspect high")
    done = generate(out, wanted, sides=(low, high), aspect=(a_low, a_high), seed=seed, masks=masks)
    typer.echo(f"wrote {sum(done.values())} images to {out}: " + ", ".join(f"{k} {v}" for k, v in done.items()))
