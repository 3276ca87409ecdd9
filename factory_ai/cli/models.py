"""``factory-ai models``: list, show, promote and roll back registered models."""

from __future__ import annotations

import json

import typer

app = typer.Typer(rich_markup_mode=None, help="The model registry: versions, cards, the version in service.", no_args_is_help=True)


@app.command("list")
def list_models(ctx: typer.Context) -> None:
    """Every model with its versions; '*' marks the version in service."""
    from factory_ai.errors import ModelError
    from factory_ai.registry import read_card

    registry = ctx.obj.registry()
    names = registry.names()
    if not names:
        typer.echo(f"no models in {registry.root}")
        return
    typer.echo(f"{'model':<24} {'version':<8} {'family':<18} {'created (UTC)':<17} {'test figure':>13}")
    for name in names:
        current = registry.current(name)
        for version in registry.versions(name):
            ref = registry.resolve(f"{name}:{version}")
            try:
                card = read_card(ref.path)
            except ModelError as exc:
                typer.echo(f"{name:<24} {version:<8} unreadable: {exc}")
                continue
            mark = "*" if version == current else " "
            created = str(card.get("created_at", ""))[:16].replace("T", " ")
            acc = _test_figure(card)
            typer.echo(f"{name:<24} {mark}{version:<7} {card.get('family', '?'):<18} {created:<17} {acc:>13}")


@app.command()
def show(
    ctx: typer.Context,
    model: str = typer.Argument(..., help="NAME (the version in service), NAME:VERSION, or a model folder."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole card as JSON."),
) -> None:
    """A model's card: classes, input, thresholds, metrics, artifacts with sha256."""
    from factory_ai.families import FAMILIES
    from factory_ai.registry import read_card

    ref = ctx.obj.registry().resolve(model)
    card = read_card(ref.path)
    if as_json:
        typer.echo(json.dumps(card, indent=2))
        return
    typer.echo(f"{ref.name} {ref.version}  ({ref.path})")
    family = FAMILIES.get(str(card.get("family")))
    typer.echo(f"family:     {card.get('family')}" + (f" ({family.title})" if family else " (unknown to this factory-ai)")
               + f"   created {card.get('created_at')}")
    if "input" in card:
        inp = card["input"]
        size = inp.get("image_size") or ["?", "?"]
        typer.echo(f"input:      {inp.get('channels')} channel(s), canvas {size[1]} x {size[0]} (width x height), "
                   f"{inp.get('fit', 'stretch')} ({inp.get('dtype')} {inp.get('layout')})")
        if inp.get("geometry"):
            g = inp["geometry"]
            typer.echo(f"            chosen from {g.get('images')} images of median size {g['median_size'][0]} x "
                       f"{g['median_size'][1]} ({g.get('rule')})")
    if "thresholds" in card:
        typer.echo(f"thresholds: {card['thresholds']}")
    for line in (family.describe(card) if family else []):
        typer.echo(line)
    if family is not None:
        passed, sentence = family.gate(card)
        if isinstance(card.get("gate"), dict):
            typer.echo(f"gate:       {'passed' if passed else 'FAILED'}: {sentence}")
    if (ref.path / "curves.png").is_file():
        typer.echo(f"curves:     {ref.path / 'curves.png'} (training and validation loss and a figure of merit per epoch)")
    for artifact, info in card.get("artifacts", {}).items():
        typer.echo(f"artifact:   {artifact} {info.get('precision', '')} {info.get('bytes', 0):,} bytes sha256 {info.get('sha256')}")
    if "dataset" in card:
        typer.echo(f"dataset:    fingerprint {card['dataset'].get('fingerprint')}")


@app.command()
def promote(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Model name."),
    version: str = typer.Argument(..., help="Version to put in service, e.g. v3."),
    reason: str = typer.Option("", "--reason", help="Recorded in the model's history."),
    force: bool = typer.Option(False, "--force", help="Promote a version that failed its gate before service "
                               "(the history records that it was forced)."),
) -> None:
    """Put a version in service. Line-side daemons pick it up on their next check.

    A version whose card records a failed gate (it did not clearly beat the trivial answer on
    its test split) is refused with exit code 3 unless --force."""
    from factory_ai.cli.common import record_model_version
    from factory_ai.registry import read_card

    registry = ctx.obj.registry()
    before = registry.current(name)
    ref = registry.promote(name, version, reason, force=force)
    typer.echo(f"{name}: {before or 'none'} -> {ref.version} in service")
    record_model_version(ctx.obj, ref, read_card(ref.path), current=True)


@app.command()
def rollback(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Model name."),
    reason: str = typer.Option("", "--reason", help="Recorded in the model's history."),
) -> None:
    """Return to the version that was in service before the current one."""
    from factory_ai.cli.common import record_model_version
    from factory_ai.registry import read_card

    registry = ctx.obj.registry()
    before = registry.current(name)
    ref = registry.rollback(name, reason)
    typer.echo(f"{name}: {before} -> {ref.version} in service (rolled back)")
    record_model_version(ctx.obj, ref, read_card(ref.path), current=True)


@app.command()
def pull(
    ctx: typer.Context,
    names: list[str] = typer.Argument(..., help="Model names."),
    source: str | None = typer.Option(None, "--from", help="The central registry: a folder or a central daemon's "
                                      "URL (default: [models] source)."),
) -> None:
    """Copy the central registry's current version of each model here and put it in service.

    Every artifact is checked against the card's sha256 before the version is moved into the
    local registry; a running daemon on this machine then loads it on its next check."""
    from factory_ai.distribution import pull as pull_model
    from factory_ai.distribution import source_for

    where = source or ctx.obj.settings.models.source
    if not where:
        raise typer.BadParameter("give --from, or set [models] source", param_hint="--from")
    registry = ctx.obj.registry()
    for name in names:
        done = pull_model(source_for(where), registry, name)
        state = "copied and put in service" if done.copied else "in service" if done.promoted else "already current"
        typer.echo(f"{name} {done.version}: {state} (from {where})")


def _test_figure(card: dict) -> str:
    """The one test figure a model list shows, as its family words it."""
    from factory_ai.families import FAMILIES

    family = FAMILIES.get(str(card.get("family")))
    if family is None:
        return "-"
    return family.figure(card) + ("" if family.gate(card)[0] else " (gate failed)")
