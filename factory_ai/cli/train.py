"""``factory-ai train``: fit models on a training machine (needs the ``train`` extra: torch)."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(rich_markup_mode=None, help="Train models (GPU when present, CPU otherwise). Needs: pip install 'factory-ai[train]'.",
                  no_args_is_help=True)


@app.command("vision", no_args_is_help=True)
def vision(
    ctx: typer.Context,
    data: Path = typer.Option(..., "--data", help="Folder with one sub-folder of images per class.",
                              exists=True, file_okay=False, show_default=False),
    name: str = typer.Option(..., "--name", help="Registry name of the model, e.g. line3-surface.", show_default=False),
    test: Path | None = typer.Option(None, "--test", help="Test folder, same layout. Default: a seeded split of --data.",
                                     exists=True, file_okay=False),
    good: list[str] = typer.Option([], "--good", help="Class that passes (repeatable). Default: a folder named good or ok; "
                                   "with none, every class is a defect type and the verdict is the class."),
    epochs: int = typer.Option(40, "--epochs", min=1, help="Most epochs; training stops early when validation loss stalls."),
    image_size: int = typer.Option(128, "--image-size", min=16, max=1024, help="Images are resized to this square size."),
    batch_size: int = typer.Option(32, "--batch-size", min=2),
    device: str = typer.Option("auto", "--device", help="auto (CUDA when present), cpu or cuda."),
    width: int = typer.Option(32, "--width", min=4, max=256, help="Network width (channels of the first stage)."),
    lr: float = typer.Option(3e-3, "--lr", min=1e-6, help="Peak learning rate (one-cycle schedule)."),
    patience: int = typer.Option(10, "--patience", min=1, help="Epochs without validation improvement before stopping."),
    seed: int = typer.Option(0, "--seed", help="Seeds the split, the initial weights and augmentation."),
    channels: str = typer.Option("auto", "--channels", help="auto (grey if every image is grey), 1 or 3."),
    val_fraction: float = typer.Option(0.1, "--val-fraction", min=0.01, max=0.5),
    test_fraction: float = typer.Option(0.2, "--test-fraction", min=0.01, max=0.5, help="Ignored with --test."),
    review_below: float = typer.Option(0.6, "--review-below", min=0.0, max=1.0,
                                       help="Verdict 'review' when the top probability is below this."),
    int8: bool = typer.Option(False, "--int8", help="Also write a static int8 model, calibrated on training images."),
    threads: int = typer.Option(0, "--threads", min=0, help="CPU threads for torch; 0 = all cores."),
    promote: bool = typer.Option(False, "--promote", help="Put the new version in service at once "
                                 "(the first version of a name always is)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Train a defect classifier on labelled images, export it to ONNX and register it.

    Writes models/NAME/vN/ with model.onnx, card.json, split.json, evaluation.json,
    confusion.png and training.png. The export is checked against torch image by image.
    """
    if device not in ("auto", "cpu", "cuda"):
        raise typer.BadParameter("use auto, cpu or cuda", param_hint="--device")
    if channels not in ("auto", "1", "3"):
        raise typer.BadParameter("use auto, 1 or 3", param_hint="--channels")
    registry = ctx.obj.registry()  # config errors surface before torch loads
    from factory_ai.cli.common import record_model_version
    from factory_ai.vision.train.fit import TrainConfig
    from factory_ai.vision.train.pipeline import VisionJob, run

    config = TrainConfig(epochs=epochs, image_size=image_size, batch_size=batch_size, width=width, lr=lr,
                         patience=patience, seed=seed, device=device, threads=threads)
    job = VisionJob(data=data, name=name, test=test, good=list(good), channels=channels, val_fraction=val_fraction,
                    test_fraction=test_fraction, review_below=review_below, int8=int8, promote=promote,
                    progress=progress, train=config)
    outcome = run(job, registry)
    typer.echo(outcome.summary())
    record_model_version(ctx.obj, outcome.ref, outcome.card, current=outcome.promoted)
