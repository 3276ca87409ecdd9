"""``factory-ai predict``: score every asset from its sensor history with a forecast or health model,
onnxruntime only; the model's family says what a result is."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import typer

log = logging.getLogger(__name__)


def predict(
    ctx: typer.Context,
    model: str = typer.Option(..., "--model", "-m", help="Registry NAME, NAME:VERSION or a model folder.",
                              show_default=False),
    data: Path | None = typer.Option(None, "--data", help="Sensor history file (C-MAPSS text, CSV or Parquet). "
                                     "Default: the readings in the store.", dir_okay=False),
    fmt: str = typer.Option("auto", "--format", help="auto, cmapss, csv, parquet or ai4i."),
    asset_col: str = typer.Option("asset", "--asset-column", help="Column naming the asset (CSV/Parquet)."),
    time_col: str = typer.Option("time", "--time-column", help="Column with the cycle or timestamp (CSV/Parquet)."),
    events: Path | None = typer.Option(None, "--events", help="Maintenance/failure events (asset,time,kind): a run "
                                       "restarts after each, so the window and the age start there.", dir_okay=False),
    assets: list[str] = typer.Option([], "--asset", help="Only this asset (repeatable). An asset with no data is "
                                     "reported as unknown."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per asset. Forecast: asset, rul, rul_low, "
                                 "rul_high, risk, horizon, error. Health: asset, time, score, health, alarm, "
                                 "top_sensors, error."),
    every_row: bool = typer.Option(False, "--every-row", help="Health models: score every time step of the history, "
                                   "not only the latest (back-testing against past events)."),
    device: str | None = typer.Option(None, "--device", help="auto, cpu or cuda (default: runtime.device)."),
    threads: int | None = typer.Option(None, "--threads", min=0, help="onnxruntime threads; 0 = all cores."),
    store: bool = typer.Option(True, "--store/--no-store", help="Store each forecast as a prediction."),
) -> None:
    """Score every asset from the latest window of its history.

    A forecast model gives one line per asset: remaining useful life with its interval (as
    the model's card states, 80 % by default) and the calibrated risk of failure within the
    model's horizon; for C-MAPSS test files the latest window ends at each unit's last cycle.
    A health model gives the asset's score (about 1 when normal), health index (100 normal,
    50 at the alarm threshold), whether it alarms (k of the last n windows above the
    threshold) and the sensors that moved most; --every-row scores every time step.

    A CSV with no asset column is one asset named after the file; ';'-separated files and a
    timestamp or datetime column are read too.

    An asset whose recent data holds NaN or inf, duplicate timestamps, too few rows or lacks a
    column gets an error line with the reason; the others are still scored, and the exit
    code is 2 (with --every-row, where the first rows of every history cannot fill a window,
    errors do not change the exit code). Exit code 1: the model, the data file or the store
    is unusable.
    """
    from factory_ai import families
    from factory_ai.history.readers import read, read_events, read_store
    from factory_ai.registry import read_card

    if device not in (None, "auto", "cpu", "cuda"):
        raise typer.BadParameter("use auto, cpu or cuda", param_hint="--device")
    settings = ctx.obj.settings
    ref = ctx.obj.registry().resolve(model)
    family = families.of(read_card(ref.path))
    if family.role != "score":
        from factory_ai.errors import ModelError

        raise ModelError(f"{ref.name} {ref.version} is a {family.title} model, not a forecast model or a health "
                         "model: predict scores assets from sensor history (judge images with factory-ai inspect)")
    scorer = family.load(ref.path, device=device or settings.runtime.device,
                         threads=settings.runtime.threads if threads is None else threads)
    database = ctx.obj.store() if store or data is None else None
    if data is not None:
        history, notes = read(data, fmt, asset_col=asset_col, time_col=time_col, run_to_failure=False)
    else:
        assert database is not None
        history, notes = read_store(database, list(assets) or None)
    if events is not None:
        from factory_ai.history.readers import add_events

        add_events(history, read_events(events, history.time_unit))
    for note in notes:
        log.info("%s", note)
    unit = scorer.card["time_unit"]
    if history.time_unit != unit:
        log.warning("the data counts time in %ss, the model in %ss: ages and windows may not mean the same",
                    history.time_unit, unit)
    results = family.predict_history(scorer, history, list(assets) or None, every_row=every_row)
    for result in results:
        sys.stdout.write((json.dumps(result.as_json()) if as_json else result.text(unit)) + "\n")
    sys.stdout.flush()
    failed = sum(1 for r in results if r.error)
    stored = ""
    if store and database is not None:
        family.store_results(database, results, ref, scorer.provider)
        stored = f" | stored in {database.where}"
    what, done = ("time steps", "scored") if every_row else ("assets", family.scored_word)
    typer.echo(f"{len(results)} {what}: {len(results) - failed} {done}, {failed} with errors | "
               f"{ref.name} {ref.version} on {scorer.provider}{stored}", err=True)
    if database is not None:
        database.close()
    if failed and not every_row:
        raise typer.Exit(2)
