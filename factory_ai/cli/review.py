"""``factory-ai review``: the queue of uncertain or flagged parts, and labelling them."""

from __future__ import annotations

from pathlib import Path

import typer

from factory_ai.registry import current_user

app = typer.Typer(rich_markup_mode=None, no_args_is_help=True,
                  help="Label images the model was unsure of (verdict review) or an operator flagged. "
                  "Labels are training data for the next retrain.")


@app.command("list")
def list_queue(ctx: typer.Context, limit: int = typer.Option(50, "--limit", "-n", min=1),
               line: str | None = typer.Option(None, "--line")) -> None:
    """The unlabelled queue, oldest first: id, time, line, the model's guess and confidence, image."""
    from factory_ai import review

    store = ctx.obj.store()
    with store.session() as session:
        items = review.queue(session, limit, line)
    for item in items:
        i = item.inspection
        guess = f"{i.label} {i.confidence:.0%}" if i.label and i.confidence is not None else "-"
        why = "flagged" if item.review and item.review.flagged else i.verdict
        typer.echo(f"{i.id:>7} {i.ts:%Y-%m-%d %H:%M:%S}Z {i.line or '-':<8} {why:<8} {guess:<18} "
                   f"{i.image_path or i.source}")
    if not items:
        typer.echo("the review queue is empty")
    store.close()


@app.command("label", no_args_is_help=True)
def label(ctx: typer.Context, inspection_id: int = typer.Argument(..., help="Inspection id (from `review list`)."),
          value: str = typer.Argument(..., help="The true class (a class of the judging model), or pass."),
          by: str = typer.Option(None, "--by", help="Reviewer (default: your user name).")) -> None:
    """Record the true class of a part's image."""
    from factory_ai import families, review

    store = ctx.obj.store()
    with store.session() as session:
        result = review.label(session, inspection_id, value, by or current_user(), families.card_classes(ctx.obj.registry()))
    typer.echo(f"inspection {inspection_id} labelled {result.label}")
    store.close()


@app.command("flag", no_args_is_help=True)
def flag(ctx: typer.Context, inspection_id: int = typer.Argument(...),
         by: str = typer.Option(None, "--by")) -> None:
    """Put any inspection in the review queue (a verdict someone doubts)."""
    from factory_ai import review

    store = ctx.obj.store()
    with store.session() as session:
        review.flag(session, inspection_id, by or current_user())
    typer.echo(f"inspection {inspection_id} flagged for review")
    store.close()


@app.command("import", no_args_is_help=True)
def import_sorted(ctx: typer.Context,
                  folder: Path = typer.Argument(..., exists=True, file_okay=False,
                                                help="Images sorted into one folder per true class."),
                  line: str = typer.Option("import", "--line", help="Line recorded on the inspections "
                                           "(keeps them apart from a production line's yield)."),
                  by: str = typer.Option(None, "--by")) -> None:
    """Judge images that QA has already sorted by class, and record each folder name as the label.

    Each image is judged by the line's first inspection model (so the store shows what the model
    thought), kept in [daemon] images_dir, and labelled: training data for the next retrain-vision.
    """
    from factory_ai import families, review
    from factory_ai.store.records import inspection_row
    from factory_ai.vision.archive import ImageArchive
    from factory_ai.vision.images import IMAGE_SUFFIXES
    from factory_ai.vision.inspect import judge_bytes

    settings = ctx.obj.settings
    registry = ctx.obj.registry()
    ref = registry.resolve(settings.inspect.names[0])
    classifier = families.load(ref.path, device=settings.runtime.device, threads=settings.runtime.threads)
    classes_of = families.card_classes(registry)
    archive = ImageArchive(settings.resolve(settings.daemon.images_dir))
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                   and p.parent != folder)
    store = ctx.obj.store()
    counts: dict[str, int] = {}
    with store.session() as session:
        for path in files:
            data = path.read_bytes()
            result = judge_bytes(data, str(path), classifier)
            row = inspection_row(result, ref.name, ref.version, classifier.provider, source=str(path), line=line)
            row.image_path = str(archive.put(data, result.sha256))
            session.add(row)
            session.flush()
            review.label(session, row.id, path.parent.name, by or current_user(), classes_of)
            counts[path.parent.name] = counts.get(path.parent.name, 0) + 1
    store.close()
    typer.echo(f"imported and labelled {len(files)} images with {ref.name} {ref.version}: "
               + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
