"""``factory-ai inspect``: judge product images on the line, with onnxruntime only."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections import Counter
from pathlib import Path

import typer

log = logging.getLogger(__name__)


def inspect(
    ctx: typer.Context,
    paths: list[str] = typer.Argument(..., help="Image files, folders (searched recursively) or glob patterns.",
                                      show_default=False),
    model: list[str] = typer.Option([], "--model", "-m", help="Registry NAME, NAME:VERSION or a model folder: a defect "
                                    "classifier or an anomaly detector. Repeat it to judge with several models as "
                                    "a line does (rejected if any rejects). Default: [inspect] models, else "
                                    "[inspect] model (demo-surface)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per image: path, label, confidence, verdict, "
                                 "error, and score (the calibrated anomaly score) when an anomaly detector judges."),
    heatmaps: Path | None = typer.Option(None, "--heatmaps", help="Write heatmap overlays (PNG) into this folder.",
                                         file_okay=False),
    batch: int | None = typer.Option(None, "--batch", min=1, max=1024, help="Images per inference call (default 16)."),
    int8: bool = typer.Option(False, "--int8", help="Use the model's static int8 artifact (faster on CPUs)."),
    device: str | None = typer.Option(None, "--device", help="auto, cpu or cuda (default: runtime.device)."),
    threads: int | None = typer.Option(None, "--threads", min=0, help="onnxruntime threads; 0 = all cores."),
    review_below: float | None = typer.Option(None, "--review-below", min=0.0, max=1.0,
                                              help="Override the card's review threshold."),
    line: str | None = typer.Option(None, "--line", help="Line id stored with each result."),
    store: bool = typer.Option(True, "--store/--no-store", help="Store every result as an inspection."),
) -> None:
    """Judge images: one line per image with path, label, confidence and verdict.

    With a defect classifier, the verdict is 'pass' or 'reject' (by the model's good
    classes), or the class itself for models without a good class, and 'review' when the
    confidence is below the model's threshold. With an anomaly detector (trained on good
    parts only) the label is 'good' or 'anomaly', the verdict comes from its calibrated score
    (1.0 is its threshold, with a review band around it), and the heatmap is its anomaly map.
    Several --model: rejected if any model rejects, review if any asks, else pass; the stored
    inspection keeps every model's answer. A file that cannot be judged gets verdict 'error'
    and a reason, the rest are still judged, and the exit code is 2. Exit code 1: a model or
    the store is unusable.
    """
    from factory_ai import families
    from factory_ai.vision.combine import combine
    from factory_ai.vision.heatmap import save_overlay
    from factory_ai.vision.inspect import collect, judge

    if device not in (None, "auto", "cpu", "cuda"):
        raise typer.BadParameter("use auto, cpu or cuda", param_hint="--device")
    settings = ctx.obj.settings
    registry = ctx.obj.registry()
    refs = [registry.resolve(name) for name in (model or settings.inspect.names)]
    models = []
    for ref in refs:
        loaded = families.load(ref.path, int8=int8, device=device or settings.runtime.device,
                               threads=settings.runtime.threads if threads is None else threads)
        if review_below is not None and hasattr(loaded, "review_below"):
            loaded.review_below = review_below
        models.append(loaded)
        log.info("model %s %s on %s (%d threads)", ref.name, ref.version, loaded.provider, loaded.model.threads)
    with_score = any(getattr(m, "gives_score", False) for m in models)
    database = ctx.obj.store() if store else None
    keep = _Keeper(settings) if store else None

    files, missing = collect(paths)
    root = _common_root(files)
    verdicts: Counter[str] = Counter()
    store_error = None
    unstored = 0
    latencies: list[float] = []

    for result in missing:
        _emit(result, as_json, with_score)
        verdicts["error"] += 1
    streams = [judge(files, m, batch=batch or settings.inspect.batch, max_pixels=settings.inspect.max_pixels,
                     keep_images=heatmaps is not None and i == 0) for i, m in enumerate(models)]
    for batches in zip(*streams, strict=True):
        rows = []
        for answers in zip(*batches, strict=True):
            result, decider = combine([(ref.name, ref.version, r) for ref, r in zip(refs, answers, strict=True)])
            if result.image is None:
                result.image = answers[0].image
            heatmap_path = None
            if heatmaps is not None and result.heatmap is not None and result.image is not None:
                heatmap_path = _heatmap_name(heatmaps, Path(result.path), root)
                save_overlay(result.image, result.heatmap, heatmap_path)
                result.image = None
            _emit(result, as_json, with_score)
            verdicts[result.verdict] += 1
            if result.latency_ms is not None:
                latencies.append(result.latency_ms)
            if database is not None:
                row = _row(result, refs[decider], models[decider].provider, line, heatmap_path)
                row.image_path = keep(result)
                rows.append(row)
        if database is not None and store_error is None:
            store_error = _store(database, rows)
        if store_error is not None:
            unstored += len(rows)
    sys.stdout.flush()

    total = sum(verdicts.values())
    mean_ms = sum(latencies) / len(latencies) if latencies else 0.0
    typer.echo(
        f"{total} images: " + ", ".join(f"{k} {v}" for k, v in sorted(verdicts.items()))
        + " | " + " + ".join(f"{r.name} {r.version}" for r in refs) + f" on {models[0].provider}, {mean_ms:.1f} ms/image"
        + ("" if database is None else f" | stored in {database.where}" if store_error is None else ""),
        err=True,
    )
    if database is not None:
        database.close()
    if store_error is not None:
        typer.echo(f"error: the last {unstored} results were not stored: {store_error}", err=True)
        raise typer.Exit(1)
    if verdicts["error"]:
        raise typer.Exit(2)


def _emit(result, as_json: bool, with_score: bool) -> None:  # noqa: ANN001
    if as_json:
        sys.stdout.write(json.dumps(result.as_json(with_score)) + "\n")
    elif result.error:
        sys.stdout.write(f"{result.path}\t-\t-\terror: {result.error}\n")
    else:
        sys.stdout.write(f"{result.path}\t{result.label}\t{result.confidence:.3f}\t{result.verdict}\n")


class _Keeper:
    """Keeps judged images as the daemon does (``[daemon] keep_images``, review verdicts by
    default), so parts judged here reach the review queue with their picture and can become
    training data."""

    def __init__(self, settings) -> None:  # noqa: ANN001
        from factory_ai.vision.archive import ImageArchive

        self.policy = settings.daemon.keep_images
        self.archive = ImageArchive(settings.resolve(settings.daemon.images_dir))

    def __call__(self, result) -> str | None:  # noqa: ANN001
        if not result.sha256 or self.policy == "none" or (self.policy == "review" and result.verdict != "review"):
            return None
        try:
            return str(self.archive.put(Path(result.path).read_bytes(), result.sha256))
        except OSError as exc:  # the verdict and the row matter more than the kept copy
            log.warning("could not keep %s for review: %s", result.path, exc)
            return None


def _row(result, ref, provider: str, line: str | None, heatmap_path: Path | None):  # noqa: ANN001, ANN202
    from factory_ai.store.records import inspection_row

    source = str(Path(result.path).resolve()) if result.sha256 else result.path
    return inspection_row(result, ref.name, ref.version, provider, source=source, line=line,
                          heatmap_path=heatmap_path)


def _store(database, rows) -> str | None:  # noqa: ANN001
    from factory_ai.errors import StoreError

    try:
        database.add_all(rows)
    except StoreError as exc:
        return str(exc)
    return None


def _common_root(files: list[Path]) -> Path | None:
    if not files:
        return None
    try:
        return Path(os.path.commonpath([str(f.resolve().parent) for f in files]))
    except ValueError:
        return None


def _heatmap_name(folder: Path, path: Path, root: Path | None) -> Path:
    resolved = path.resolve()
    relative = resolved.relative_to(root) if root is not None and resolved.is_relative_to(root) else Path(path.name)
    return folder / relative.with_name(relative.stem + ".heatmap.png")
