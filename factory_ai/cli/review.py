"""``factory-ai review``: the queue of uncertain or flagged parts, and labelling them."""

from __future__ import annotations

import getpass

import typer

app = typer.Typer(rich_markup_mode=None, no_args_is_help=True,
                  help="Label images the model was unsure of (verdict review) or an operator flagged. "
                  "Labels are training data for the next retrain.")


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001
        return "unknown"


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
    from factory_ai import review

    store = ctx.obj.store()
    with store.session() as session:
        result = review.label(session, inspection_id, value, by or _user(), review.card_classes(ctx.obj.registry()))
    typer.echo(f"inspection {inspection_id} labelled {result.label}")
    store.close()


@app.command("flag", no_args_is_help=True)
def flag(ctx: typer.Context, inspection_id: int = typer.Argument(...),
         by: str = typer.Option(None, "--by")) -> None:
    """Put any inspection in the review queue (a verdict someone doubts)."""
    from factory_ai import review

    store = ctx.obj.store()
    with store.session() as session:
        review.flag(session, inspection_id, by or _user())
    typer.echo(f"inspection {inspection_id} flagged for review")
    store.close()
