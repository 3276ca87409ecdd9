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
    from factory_ai.registry import read_card

    ref = ctx.obj.registry().resolve(model)
    card = read_card(ref.path)
    if as_json:
        typer.echo(json.dumps(card, indent=2))
        return
    typer.echo(f"{ref.name} {ref.version}  ({ref.path})")
    typer.echo(f"family:     {card.get('family')}   created {card.get('created_at')}")
    if "classes" in card:
        typer.echo(f"classes:    {', '.join(card['classes'])}")
        typer.echo(f"pass:       {', '.join(card.get('good_classes') or []) or '(none: the verdict is the class)'}")
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
    test = card.get("metrics", {}).get("test")
    if test and "accuracy" in test:
        balanced = f", balanced accuracy {test['balanced_accuracy']:.2%}" if "balanced_accuracy" in test else ""
        typer.echo(f"test:       accuracy {test['accuracy']:.2%}{balanced}, macro F1 {test['macro_f1']:.3f} "
                   f"on {test['n']} images")
        if "baseline" in test:
            base = test["baseline"]
            typer.echo(f"            (always the commonest class: accuracy {base['accuracy']:.2%}, balanced accuracy "
                       f"{base['balanced_accuracy']:.2%}, macro F1 {base['macro_f1']:.3f})")
        for key in ("escape_rate", "false_reject_rate"):
            if test.get(key) is not None:
                typer.echo(f"            {key.replace('_', ' ')} {test[key]:.2%}")
        for name_, m in test.get("per_class", {}).items():
            typer.echo(f"            {name_}: recall {m['recall']:.2f}, F1 {m['f1']:.2f}, {m['support']} test images"
                       + (f", {card['training']['support'][name_]} training images"
                          if name_ in (card.get("training") or {}).get("support", {}) else ""))
    for text in (card.get("training") or {}).get("support_warnings", []):
        typer.echo(f"warning:    {text}")
    if isinstance(card.get("gate"), dict):
        typer.echo(f"gate:       {'passed' if card['gate'].get('passed') else 'FAILED'}: {card['gate'].get('sentence')}")
    learning = (card.get("training") or {}).get("learning")
    if learning:
        typer.echo(f"learning:   best training loss {learning['best_train_loss']:.3f} against the class-prior entropy "
                   f"{learning['prior_entropy']:.3f} ({'learned' if learning['learned'] else 'DID NOT LEARN'}; "
                   f"{len(learning['attempts'])} attempt(s))")
    if (ref.path / "curves.png").is_file():
        typer.echo(f"curves:     {ref.path / 'curves.png'} (training and validation loss and macro-F1 per epoch)")
    if card.get("family") == "forecast":
        typer.echo(f"forecast:   {card['task']}, window {card['window']} rows, horizon {card['horizon']:g} "
                   f"{card['time_unit']}s" + (f", RUL cap {card['rul_cap']:g}" if card.get("rul_cap") else ""))
        typer.echo(f"channels:   {', '.join(card['features']['channels'])} ({card['features']['regimes']} regimes)")
        typer.echo(f"combine:    {json.dumps(card['combine'])}")
        for part in ("validation", "test"):
            m = card.get("metrics", {}).get(part)
            if m:
                typer.echo(f"{part + ':':<11} {_forecast_line(m)}")
    int8 = card.get("metrics", {}).get("test_int8")
    if int8:
        typer.echo(f"int8:       accuracy {int8['accuracy']:.2%}")
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
    """The one test figure a model list shows: accuracy for classifiers, RMSE or F1 for forecasts."""
    test = card.get("metrics", {}).get("test") or {}
    if isinstance(test.get("accuracy"), float):
        figure = f"{test['accuracy']:.2%}"
        if isinstance(test.get("balanced_accuracy"), float):
            figure += f" bal {test['balanced_accuracy']:.2%}"
        return figure + ("" if (card.get("gate") or {}).get("passed", True) else " (gate failed)")
    if test.get("rul"):
        return f"RMSE {test['rul']['rmse_capped_truth']:.2f}"
    if test.get("risk"):
        return f"F1 {test['risk']['f1']:.3f}"
    return "-"


def _forecast_line(m: dict) -> str:
    parts = [f"{m['n']} windows ({m['scope']})"]
    if m.get("rul"):
        r = m["rul"]
        parts.append(f"RMSE {r['rmse_capped_truth']:.2f}, interval coverage {r['interval_coverage']:.0%}")
    if m.get("risk"):
        k = m["risk"]
        parts.append(f"risk F1 {k['f1']:.3f}, PR-AUC {k['pr_auc']:.3f}")
    return "; ".join(parts)
