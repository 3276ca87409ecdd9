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
    image_size: int | None = typer.Option(None, "--image-size", min=16, max=2048, show_default="chosen from the data",
                                          help="Long side of the input canvas. By default the canvas takes the images' "
                                          "median aspect ratio and their median size, up to 65,536 pixels; images keep "
                                          "their aspect ratio. Raise it when flaws are small in large frames."),
    batch_size: int = typer.Option(32, "--batch-size", min=2),
    device: str = typer.Option("auto", "--device", help="auto (CUDA when present), cpu or cuda."),
    width: int = typer.Option(32, "--width", min=4, max=256, help="Network width (channels of the first stage)."),
    lr: float = typer.Option(2e-3, "--lr", min=1e-6, help="Peak learning rate (one-cycle schedule); lowered "
                             "automatically when the loss stalls at the class prior."),
    patience: int = typer.Option(10, "--patience", min=1, help="Epochs without validation improvement before stopping (judged from half of --epochs on)."),
    seed: int = typer.Option(0, "--seed", help="Seeds the split, the initial weights and augmentation."),
    channels: str = typer.Option("auto", "--channels", help="auto (grey if every image is grey), 1 or 3."),
    val_fraction: float = typer.Option(0.1, "--val-fraction", min=0.01, max=0.5),
    test_fraction: float = typer.Option(0.2, "--test-fraction", min=0.01, max=0.5, help="Ignored with --test."),
    review_below: float = typer.Option(0.6, "--review-below", min=0.0, max=1.0,
                                       help="Verdict 'review' when the top probability is below this."),
    int8: bool = typer.Option(False, "--int8", help="Also write a static int8 model, calibrated on training images."),
    threads: int = typer.Option(0, "--threads", min=0, help="CPU threads for torch; 0 = all cores."),
    promote: bool = typer.Option(False, "--promote", help="Put the new version in service at once "
                                 "(the first version of a name always is), if it passes the gate."),
    force: bool = typer.Option(False, "--force", help="With --promote (or a first version): put it in service even "
                               "if it fails the gate; the model's history records that it was forced."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    distributed: bool = typer.Option(False, "--distributed", help="One of several processes started by torchrun "
                                     "(DDP: NCCL between GPUs, gloo between CPU processes); rank 0 registers the model."),
) -> None:
    """Train a defect classifier on labelled images, export it to ONNX and register it.

    Writes models/NAME/vN/ with model.onnx, card.json, split.json, evaluation.json,
    confusion.png and curves.png (loss and macro-F1 per epoch). The export is checked against
    torch image by image.

    The gate before service: on its test split the model must clearly beat always answering
    the commonest class (balanced accuracy and macro-F1), and stay within [vision]
    max_false_reject and max_escape. A model that fails is registered but not put in service,
    and the command exits with code 3 and says what failed and what to try.

    On several GPUs (or CPU processes): torchrun --nproc_per_node 4 -m factory_ai train vision
    --distributed --data ... --name ...
    """
    if device not in ("auto", "cpu", "cuda"):
        raise typer.BadParameter("use auto, cpu or cuda", param_hint="--device")
    if channels not in ("auto", "1", "3"):
        raise typer.BadParameter("use auto, 1 or 3", param_hint="--channels")
    registry = ctx.obj.registry()  # config errors surface before torch loads
    limits = ctx.obj.settings.vision
    from factory_ai.cli.common import record_model_version
    from factory_ai.errors import GateError
    from factory_ai.vision.gate import Limits
    from factory_ai.vision.train.fit import TrainConfig
    from factory_ai.vision.train.pipeline import VisionJob, run

    config = TrainConfig(epochs=epochs, image_size=image_size, batch_size=batch_size, width=width, lr=lr,
                         patience=patience, seed=seed, device=device, threads=threads, distributed=distributed)
    job = VisionJob(data=data, name=name, test=test, good=list(good), channels=channels, val_fraction=val_fraction,
                    test_fraction=test_fraction, review_below=review_below, int8=int8, promote=promote, force=force,
                    limits=Limits(margin=limits.gate_margin, max_false_reject=limits.max_false_reject,
                                  max_escape=limits.max_escape),
                    progress=progress, train=config)
    outcome = run(job, registry)
    if outcome is None:  # a torchrun process other than rank 0: it trained, rank 0 reports
        return
    typer.echo(outcome.summary())
    record_model_version(ctx.obj, outcome.ref, outcome.card, current=outcome.promoted)
    if not outcome.gate_passed and not outcome.promoted:
        raise GateError(f"{outcome.ref.name} {outcome.ref.version} is registered but not in service: "
                        + outcome.card["gate"]["sentence"])


@app.command("forecast", no_args_is_help=True)
def forecast(
    ctx: typer.Context,
    data: Path = typer.Option(..., "--data", help="Sensor history: C-MAPSS train_FD00x.txt, the AI4I CSV, or a plant "
                              "CSV/Parquet (wide, or long with sensor,value columns).", exists=True, dir_okay=False,
                              show_default=False),
    name: str = typer.Option(..., "--name", help="Registry name of the model, e.g. press-line-rul.", show_default=False),
    fmt: str = typer.Option("auto", "--format", help="auto (by file name and header), cmapss, csv, parquet or ai4i."),
    test: Path | None = typer.Option(None, "--test", help="Test file in the same format (C-MAPSS test_FD00x.txt takes "
                                     "its truth from RUL_FD00x.txt beside it). Default: hold out 20 % of the assets.",
                                     exists=True, dir_okay=False),
    events: Path | None = typer.Option(None, "--events", help="Failure and maintenance events: CSV with asset, time, "
                                       "kind (failure|maintenance). They end the runs that RUL is counted to.",
                                       exists=True, dir_okay=False),
    run_to_failure: bool = typer.Option(False, "--run-to-failure", help="Every asset's last row is a failure "
                                        "(as in C-MAPSS train files, where it is the default)."),
    asset_col: str = typer.Option("asset", "--asset-column", help="Column naming the asset (CSV/Parquet)."),
    time_col: str = typer.Option("time", "--time-column", help="Column with the cycle number or timestamp."),
    settings: list[str] = typer.Option([], "--setting", help="Operating-setting column (repeatable): regimes are "
                                       "found from these, and sensors normalised per regime."),
    horizon: float = typer.Option(30.0, "--horizon", min=0.0, help="Failure-risk horizon, in the data's time unit "
                                  "(cycles, or hours for timestamps)."),
    rul_cap: float = typer.Option(125.0, "--rul-cap", min=1.0, help="RUL target cap (piecewise-linear target)."),
    window: int = typer.Option(40, "--window", min=1, max=1000, help="Rows of history the model reads."),
    min_history: int = typer.Option(5, "--min-history", min=1, help="Fewer rows than this since a run began: no forecast."),
    network: str = typer.Option("cnn", "--network", help="Temporal network: cnn (dilated 1-D convolutions) or gru."),
    members: str = typer.Option("network,gbm", "--members", help="Models to train: network, gbm, or both; the "
                                "combination is chosen on out-of-fold predictions."),
    folds: int = typer.Option(5, "--folds", min=2, max=20, help="Cross-fitting folds (grouped by asset)."),
    epochs: int = typer.Option(30, "--epochs", min=1, help="Most epochs per fold; stops early on validation RMSE."),
    width: int = typer.Option(64, "--width", min=4, max=512, help="Network width (channels or hidden units)."),
    batch_size: int = typer.Option(256, "--batch-size", min=8),
    gbm_max_iter: int = typer.Option(500, "--gbm-max-iter", min=10, help="Most boosting rounds per fold (stops early)."),
    gbm_leaves: int = typer.Option(31, "--gbm-leaves", min=4, max=255, help="Leaves per boosted tree."),
    coverage: float = typer.Option(0.8, "--coverage", min=0.5, max=0.99, help="Share of outcomes the RUL interval "
                                   "should cover (calibrated out of fold)."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA when present), cpu or cuda."),
    threads: int = typer.Option(0, "--threads", min=0, help="CPU threads for torch; 0 = all cores."),
    seed: int = typer.Option(0, "--seed", help="Seeds folds, weights and hold-out."),
    promote: bool = typer.Option(False, "--promote", help="Put the new version in service at once "
                                 "(the first version of a name always is)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    distributed: bool = typer.Option(False, "--distributed", help="One of several processes started by torchrun: "
                                     "the network member trains under DDP; rank 0 fits the trees and registers."),
) -> None:
    """Train a failure-forecast model on sensor history, export it to ONNX and register it.

    RUL (capped, with an interval) and the calibrated risk of failure within --horizon, from
    a temporal network and a gradient-boosting model trained on K folds; the combination,
    interval width, calibration and alarm threshold are chosen out of fold. Writes
    models/NAME/vN/ with network.onnx and/or gbm.onnx, card.json, evaluation.json and plots
    (rul_scatter.png, trajectories.png, reliability.png).
    """
    if device not in ("auto", "cpu", "cuda"):
        raise typer.BadParameter("use auto, cpu or cuda", param_hint="--device")
    if network not in ("cnn", "gru"):
        raise typer.BadParameter("use cnn or gru", param_hint="--network")
    chosen = tuple(m.strip() for m in members.split(",") if m.strip())
    if not chosen or set(chosen) - {"network", "gbm"}:
        raise typer.BadParameter("use network, gbm or network,gbm", param_hint="--members")
    registry = ctx.obj.registry()
    from factory_ai.cli.common import record_model_version
    from factory_ai.forecast.train.fit import NetworkConfig
    from factory_ai.forecast.train.gbm import GBMConfig
    from factory_ai.forecast.train.pipeline import ForecastJob, run

    job = ForecastJob(
        data=data, name=name, fmt=fmt, test=test, events=events, run_to_failure=run_to_failure or None,
        asset_col=asset_col, time_col=time_col, settings=list(settings), horizon=horizon, rul_cap=rul_cap,
        window=window, min_history=min_history, folds=folds, members=chosen, coverage=coverage, promote=promote,
        progress=progress,
        network=NetworkConfig(network=network, width=width, epochs=epochs, batch_size=batch_size, seed=seed,
                              device=device, threads=threads, distributed=distributed),
        gbm=GBMConfig(max_iter=gbm_max_iter, max_leaf_nodes=gbm_leaves, seed=seed))
    outcome = run(job, registry)
    if outcome is None:  # a torchrun process other than rank 0
        return
    typer.echo(outcome.summary())
    record_model_version(ctx.obj, outcome.ref, outcome.card, current=outcome.promoted)


@app.command("anomaly", no_args_is_help=True)
def anomaly(
    ctx: typer.Context,
    data: Path = typer.Option(..., "--data", help="Folder of good parts' images (searched recursively; no labels).",
                              exists=True, file_okay=False, show_default=False),
    name: str = typer.Option(..., "--name", help="Registry name of the detector, e.g. line3-anomaly.", show_default=False),
    test: Path | None = typer.Option(None, "--test", help="Labelled test folder: good/ and one folder per defect type "
                                     "(any names). Without it the detector is judged on synthetic flaws.",
                                     exists=True, file_okay=False),
    masks: Path | None = typer.Option(None, "--masks", help="Defect masks for the test images, MASKS/<type>/<image "
                                      "stem>*.png: adds pixel AUROC and PRO.", exists=True, file_okay=False),
    max_false_reject: float = typer.Option(0.01, "--max-false-reject", min=0.0001, max=0.5,
                                           help="Share of good parts the threshold may reject (set on held-out good "
                                           "images): the calibrated score 1.0."),
    epochs: int = typer.Option(45, "--epochs", min=1, help="Most epochs; stops early when the validation loss stalls."),
    image_size: int | None = typer.Option(None, "--image-size", min=16, max=2048, show_default="chosen from the data",
                                          help="Long side of the input canvas (as for train vision)."),
    width: int = typer.Option(24, "--width", min=4, max=256, help="Network width."),
    batch_size: int = typer.Option(16, "--batch-size", min=2),
    device: str = typer.Option("auto", "--device", help="auto (CUDA when present), cpu or cuda."),
    threads: int = typer.Option(0, "--threads", min=0, help="CPU threads for torch; 0 = all cores."),
    seed: int = typer.Option(0, "--seed"),
    int8: bool = typer.Option(False, "--int8", help="Also write a static int8 model and record its AUROC."),
    promote: bool = typer.Option(False, "--promote", help="Put the new version in service at once (the first "
                                 "version of a name always is), if it passes the gate."),
    force: bool = typer.Option(False, "--force", help="With --promote (or a first version): into service even if it "
                               "fails the gate; the history records that it was forced."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Train an anomaly detector on good parts only, export it to ONNX and register it.

    For day one, when a line has thousands of good parts and a handful of defects: the
    detector learns the good part (by finding synthetic flaws pasted on good images) and
    flags whatever departs from it, with a pixel anomaly map. Its score is calibrated on
    held-out good images so that 1.0 is the threshold that rejects --max-false-reject of
    good parts; a review band lies around it. Writes models/NAME/vN/ with model.onnx,
    card.json, evaluation.json, scores.png (score histograms and ROC), sheet.png (the
    highest-scoring test parts with their maps) and curves.png.

    The gate before service: image AUROC a clear step above a coin, and the false-reject and
    escape rates at the threshold within [vision] max_false_reject and max_escape; a detector
    that fails is registered but not put in service (exit code 3).
    """
    if device not in ("auto", "cpu", "cuda"):
        raise typer.BadParameter("use auto, cpu or cuda", param_hint="--device")
    registry = ctx.obj.registry()
    limits = ctx.obj.settings.vision
    from factory_ai.anomaly.train.fit import AnomalyConfig
    from factory_ai.anomaly.train.pipeline import AnomalyJob, run
    from factory_ai.cli.common import record_model_version
    from factory_ai.errors import GateError
    from factory_ai.vision.gate import Limits

    job = AnomalyJob(data=data, name=name, test=test, masks=masks, max_false_reject=max_false_reject, int8=int8,
                     promote=promote, force=force, progress=progress,
                     limits=Limits(margin=limits.gate_margin, max_false_reject=limits.max_false_reject,
                                   max_escape=limits.max_escape),
                     train=AnomalyConfig(epochs=epochs, image_size=image_size, width=width, batch_size=batch_size,
                                         device=device, threads=threads, seed=seed))
    outcome = run(job, registry)
    typer.echo(outcome.summary())
    record_model_version(ctx.obj, outcome.ref, outcome.card, current=outcome.promoted)
    if not outcome.gate_passed and not outcome.promoted:
        raise GateError(f"{outcome.ref.name} {outcome.ref.version} is registered but not in service: "
                        + outcome.card["gate"]["sentence"])


@app.command("health", no_args_is_help=True)
def health(
    ctx: typer.Context,
    data: Path = typer.Option(..., "--data", help="Sensor history of normal operation (as for train forecast: "
                              "C-MAPSS, CSV/Parquet wide or long, the FEMTO bearing folder).", exists=True,
                              show_default=False),
    name: str = typer.Option(..., "--name", help="Registry name of the model, e.g. press-line-health.",
                             show_default=False),
    fmt: str = typer.Option("auto", "--format", help="auto, cmapss, csv, parquet or femto."),
    asset_col: str = typer.Option("asset", "--asset-column", help="Column naming the asset (CSV/Parquet); a file "
                                  "without one is one asset named after the file."),
    time_col: str = typer.Option("time", "--time-column", help="Column with the cycle or timestamp."),
    settings: list[str] = typer.Option([], "--setting", help="Operating-setting column (repeatable): regimes are "
                                       "found from these, so a change of load is not a change of health."),
    events: Path | None = typer.Option(None, "--events", help="Failures and maintenance (asset,time,kind): windows "
                                       "never span one, and recorded failures judge the model.", exists=True,
                                       dir_okay=False),
    normal_until: str | None = typer.Option(None, "--normal-until", help="Operation up to this time was normal "
                                            "(a timestamp, or a cycle number)."),
    normal_periods: Path | None = typer.Option(None, "--normal-periods", help="CSV asset,start,end: the normal "
                                               "periods per asset.", exists=True, dir_okay=False),
    window: int = typer.Option(6, "--window", min=1, max=500, help="Rows each score reads."),
    k: int = typer.Option(3, "--k", min=1, help="An alarm needs the score above the threshold in k ..."),
    n: int = typer.Option(5, "--n", min=1, help="... of the last n windows."),
    false_alarm_rate: float = typer.Option(1.0, "--false-alarm-rate", min=0.0, help="Persistent false alarms the "
                                           "threshold allows per asset per 30 days at the data's interval (per 720 "
                                           "rows for cycle-counted data), set on held-out normal data."),
    members: str = typer.Option("pca,autoencoder", "--members", help="pca (T² and Q), autoencoder, or both; the "
                                "better on recorded failures ships, or their mean when none is recorded."),
    epochs: int = typer.Option(60, "--epochs", min=1, help="Most autoencoder epochs (stops early)."),
    threads: int = typer.Option(0, "--threads", min=0, help="CPU threads for torch; 0 = all cores."),
    seed: int = typer.Option(0, "--seed"),
    promote: bool = typer.Option(False, "--promote", help="Put the new version in service at once (the first "
                                 "version of a name always is), if it passes the gate."),
    force: bool = typer.Option(False, "--force", help="Into service even if it fails the gate (recorded as forced)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Train a machine-health model on normal operation, export it to ONNX and register it.

    For day one, before any failure is recorded: a model of each machine's normal behaviour
    (PCA with Hotelling's T² and the squared prediction error, and a small autoencoder over
    windows) that scores how far an asset is from normal, as a health index 0-100 (50 at the
    alarm threshold), and names the sensors that moved. The threshold is set on held-out
    normal data for --false-alarm-rate, and an alarm needs k of the last n windows above it.
    Writes models/NAME/vN/ with pca.onnx and/or autoencoder.onnx, card.json,
    evaluation.json and health.png. Exit code 3: registered but refused by the gate (too many
    false alarms on held-out normal data, or recorded failures missed).
    """
    from factory_ai.cli.common import record_model_version
    from factory_ai.errors import GateError
    from factory_ai.health.train.pipeline import HealthJob, run

    chosen = tuple(m.strip() for m in members.split(",") if m.strip())
    if k > n:
        raise typer.BadParameter(f"k ({k}) cannot exceed n ({n})", param_hint="--k")
    job = HealthJob(data=data, name=name, fmt=fmt, asset_col=asset_col, time_col=time_col, settings=list(settings),
                    events=events, normal_until=normal_until, normal_periods=normal_periods, window=window, k=k,
                    n=n, false_alarm_rate=false_alarm_rate, members=chosen, epochs=epochs, seed=seed,
                    threads=threads, promote=promote, force=force, progress=progress)
    outcome = run(job, ctx.obj.registry())
    typer.echo(outcome.summary())
    record_model_version(ctx.obj, outcome.ref, outcome.card, current=outcome.promoted)
    if not outcome.gate_passed and not outcome.promoted:
        raise GateError(f"{outcome.ref.name} {outcome.ref.version} is registered but not in service: "
                        + outcome.card["gate"]["sentence"])
