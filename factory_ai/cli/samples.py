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
