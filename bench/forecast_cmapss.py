"""Benchmark: the failure forecast on NASA C-MAPSS, and line-side throughput.

For every ``train_FD00x.txt`` found in the data folder (FD001 and FD002 here; FD003 and FD004
run unchanged wherever they are present), and for each temporal network asked for (``cnn``
and ``gru`` by default, to justify the default), it runs exactly what
``factory-ai train forecast --data train_FD00x.txt --test test_FD00x.txt`` runs, then prints:

- RMSE and the NASA score of each unit's last-cycle prediction against ``RUL_FD00x.txt``, for
  the network alone, the gradient-boosting model alone and the shipped combination; each
  against the truth as given and against the truth capped at the RUL cap (125). Published
  C-MAPSS results (the targets FD001 <= 12.0 and FD002 <= 14.0, and the 10.97 / 12.55 of the
  best published models) are computed on the capped truth. Uncapped, every unit whose true
  remaining life is above the cap adds error no capped-target model can avoid; the table
  says how many units that is.
- interval coverage, risk F1 / PR-AUC at the card threshold (failure within 30 cycles);
- throughput for the latest windows of 1,000 assets in one call: onnxruntime against torch
  eager (+ scikit-learn for the boosted trees), same thread count, interleaved runs, as ratios.

Plots (predicted vs true RUL, per-unit trajectories, reliability) land beside each model
version and are copied to ``--out``.

    python bench/forecast_cmapss.py [--data ../shared/datasets/cmapss] [--networks cnn,gru]
                                     [--epochs 30] [--folds 5] [--device auto] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TARGETS = {"FD001": 12.0, "FD002": 14.0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "cmapss")
    parser.add_argument("--networks", default="cnn,gru")
    parser.add_argument("--subsets", default="", help="e.g. FD001,FD002 (default: every train_FD*.txt found)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=2, help="threads for the throughput comparison")
    parser.add_argument("--train-threads", type=int, default=0, help="torch threads for training (0 = all)")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "forecast")
    parser.add_argument("--models", type=Path, default=ROOT / "var" / "bench" / "models")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")

    trains = sorted(args.data.glob("train_FD00*.txt"))
    if args.subsets:
        wanted = {s.strip().upper() for s in args.subsets.split(",")}
        trains = [t for t in trains if t.stem.split("_")[1].upper() in wanted]
    if not trains:
        print(f"SKIP: no C-MAPSS train_FD00x.txt in {args.data}")
        return 0
    from factory_ai.forecast.train.fit import NetworkConfig
    from factory_ai.forecast.train.pipeline import ForecastJob, run
    from factory_ai.registry import Registry

    args.out.mkdir(parents=True, exist_ok=True)
    registry = Registry(args.models)
    results = []
    for train in trains:
        subset = train.stem.split("_")[1]
        test = train.with_name(f"test_{subset}.txt")
        for kind in [k.strip() for k in args.networks.split(",") if k.strip()]:
            name = f"cmapss-{subset.lower()}-{kind}"
            job = ForecastJob(data=train, name=name, test=test if test.is_file() else None, progress=False,
                              folds=args.folds, promote=True,
                              network=NetworkConfig(network=kind, epochs=args.epochs, width=args.width,
                                                    device=args.device, threads=args.train_threads))
            start = time.perf_counter()
            outcome = run(job, registry)
            seconds = time.perf_counter() - start
            row = _row(subset, kind, outcome, seconds)
            row["throughput"] = _throughput(outcome, args.threads, args.runs)
            results.append(row)
            _print_row(row)
            for plot in ("rul_scatter.png", "trajectories.png", "reliability.png"):
                if (outcome.ref.path / plot).is_file():
                    shutil.copy(outcome.ref.path / plot, args.out / f"{name}-{plot}")
    (args.out / "cmapss.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    _print_summary(results)
    return 0


def _row(subset: str, kind: str, outcome, seconds: float) -> dict:  # noqa: ANN001
    card = outcome.card
    test = card["metrics"].get("test", {})
    members = card["metrics"].get("test_members", {})
    row = {"subset": subset, "network": kind, "combine": card["combine"], "seconds": round(seconds, 1),
           "device": card["training"]["device"], "best_epochs": card["training"]["best_epochs"],
           "units": test.get("n"), "above_cap": test.get("rul", {}).get("truth_above_cap"),
           "shipped": _rul(test), "members": {m: _rul(v) for m, v in members.items()},
           "validation_rmse_capped": card["metrics"]["validation"]["rul"]["rmse_capped_truth"],
           "parity": card["parity"]}
    risk = test.get("risk")
    if risk:
        row["risk"] = {k: risk[k] for k in ("precision", "recall", "f1", "pr_auc", "brier", "threshold")}
    return row


def _rul(metrics: dict) -> dict:
    r = metrics.get("rul") or {}
    keys = ("rmse", "rmse_capped_truth", "nasa_score", "nasa_score_capped_truth", "interval_coverage",
            "interval_mean_width")
    return {k: r.get(k) for k in keys}


def _throughput(outcome, threads: int, runs: int) -> dict:  # noqa: ANN001
    """The latest windows of 1,000 assets in one call: onnxruntime vs torch eager (+ sklearn)."""
    import torch

    from factory_ai.forecast.features import summarise
    from factory_ai.forecast.model import ForecastModel, combine
    from factory_ai.forecast.train import gbm as gbm_module
    from factory_ai.forecast.train.export import FoldEnsemble

    rows = outcome.test_rows
    rng = np.random.default_rng(0)
    windows = np.ascontiguousarray(rows.windows[rng.integers(0, len(rows), 1000)])
    torch.set_num_threads(threads)
    model = ForecastModel.load(outcome.ref.path, device="cpu", threads=threads)
    ensemble = FoldEnsemble([t.network for t in outcome.networks]).eval() if outcome.networks else None
    cap = float(outcome.card["rul_cap"])

    def eager_all() -> None:
        # The same members the shipped model runs (a member the combination does not weigh
        # ships but sits idle on both sides).
        raw = {}
        if ensemble is not None and "network" in model.used:
            with torch.inference_mode():
                q, logit = ensemble(torch.from_numpy(windows))
            q = q.numpy().astype(np.float64) * cap
            raw["network"] = {"low": q[:, 0], "rul": q[:, 1], "high": q[:, 2],
                              "risk": 1 / (1 + np.exp(-logit.numpy().astype(np.float64)))}
        if "gbm" in model.used:
            raw["gbm"] = gbm_module.predict(outcome.gbm_folds, summarise(windows))
        combine(model.card, raw, len(windows))

    def eager_network() -> None:
        with torch.inference_mode():
            ensemble(torch.from_numpy(windows))

    engines = {"onnxruntime (shipped model)": lambda: model.predict(windows), "torch eager + sklearn": eager_all}
    if ensemble is not None and "network" in model.members:
        engines["onnxruntime network only"] = lambda: model.raw(windows, ["network"])
        engines["torch eager network only"] = eager_network
    samples: dict[str, list[float]] = {k: [] for k in engines}
    # scikit-learn's trees use OpenMP: hold them to the same thread count as the others.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(threads):
        _time_engines(engines, samples, runs)
    medians = {k: statistics.median(v) for k, v in samples.items()}
    out = {"threads": threads, "assets": 1000, "members": model.used,
           "median_ms": {k: round(v * 1000, 2) for k, v in medians.items()},
           "speedup_full": medians["torch eager + sklearn"] / medians["onnxruntime (shipped model)"]}
    if "onnxruntime network only" in medians:
        out["speedup_network"] = medians["torch eager network only"] / medians["onnxruntime network only"]
    return out


def _time_engines(engines: dict, samples: dict[str, list[float]], runs: int) -> None:
    """Engines take turns, five timed calls each after one untimed: noise hits all alike."""
    for _ in range(max(1, runs // 5)):
        for name, fn in engines.items():
            fn()
            for _ in range(5):
                start = time.perf_counter()
                fn()
                samples[name].append(time.perf_counter() - start)


def _print_row(row: dict) -> None:
    s = row["shipped"]
    print(f"\n== {row['subset']} / {row['network']}: combine {json.dumps(row['combine']['rul'])}, trained on "
          f"{row['device']} in {row['seconds']:.0f} s (best epochs {row['best_epochs']})", flush=True)
    print(f"   {'model':<10} {'RMSE':>7} {'RMSE cap':>9} {'NASA':>9} {'NASA cap':>9} {'cover':>6} {'width':>6}")
    for name, r in [*row["members"].items(), ("shipped", s)]:
        if r.get("rmse") is None:
            continue
        print(f"   {name:<10} {r['rmse']:7.2f} {r['rmse_capped_truth']:9.2f} {r['nasa_score']:9.0f} "
              f"{r['nasa_score_capped_truth']:9.0f} {r['interval_coverage']:6.0%} {r['interval_mean_width']:6.1f}")
    print(f"   {row['units']} test units, {row['above_cap']} with true RUL above the cap; out-of-fold RMSE "
          f"(capped) {row['validation_rmse_capped']:.2f}")
    if "risk" in row:
        k = row["risk"]
        print(f"   risk (fail within 30): precision {k['precision']:.2f} recall {k['recall']:.2f} F1 {k['f1']:.2f} "
              f"PR-AUC {k['pr_auc']:.3f} Brier {k['brier']:.3f}")
    t = row["throughput"]
    line = ", ".join(f"{k} {v:.1f} ms" for k, v in t["median_ms"].items())
    print(f"   1,000 assets, {t['threads']} threads, members {'+'.join(t['members'])}: {line}")
    print(f"   onnxruntime speed-up over torch eager: {t['speedup_full']:.2f}x (whole forecast)"
          + (f", {t['speedup_network']:.2f}x (network only)" if "speedup_network" in t else ""), flush=True)


def _print_summary(results: list[dict]) -> None:
    print("\nsummary (RMSE of each unit's last cycle; 'cap' = against truth capped at 125, the published convention)")
    print(f"{'subset':<7} {'network':<7} {'net':>7} {'gbm':>7} {'shipped':>8} {'raw':>7} {'target':>7}  verdict")
    for r in results:
        net = r["members"].get("network", {}).get("rmse_capped_truth")
        gbm = r["members"].get("gbm", {}).get("rmse_capped_truth")
        shipped = r["shipped"]["rmse_capped_truth"]
        target = TARGETS.get(r["subset"])
        verdict = "-" if target is None else ("met" if shipped <= target else "NOT met")
        fmt = lambda v: f"{v:7.2f}" if isinstance(v, float) else f"{'-':>7}"  # noqa: E731
        print(f"{r['subset']:<7} {r['network']:<7} {fmt(net)} {fmt(gbm)} {shipped:8.2f} {r['shipped']['rmse']:7.2f} "
              f"{fmt(target)}  {verdict}")


if __name__ == "__main__":
    sys.exit(main())
