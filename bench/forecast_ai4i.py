"""Benchmark: machine-failure risk on the AI4I 2020 predictive-maintenance table.

Runs what ``factory-ai train forecast --data ai4i2020.csv`` runs: a stratified, seeded 80/20
split (the 20 % never seen in training), five stratified folds on the 80 % for the network
and the boosted trees, Platt calibration and an F1-best threshold chosen out of fold. The
failure-mode flags TWF, HDF, PWF, OSF and RNF are not features (each spells out the label).

Prints precision, recall, F1 (at the card's threshold), PR-AUC and the Brier score on the
held-out 20 %, for each member and for the shipped combination, and writes the reliability
curve to ``--out``.

    python bench/forecast_ai4i.py [--data ../shared/datasets/ai4i2020/ai4i2020.csv] [--epochs 30]
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "ai4i2020" / "ai4i2020.csv")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "forecast")
    parser.add_argument("--models", type=Path, default=ROOT / "var" / "bench" / "models")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    if not args.data.is_file():
        print(f"SKIP: AI4I 2020 table not found at {args.data}")
        return 0
    from factory_ai.forecast.train.fit import NetworkConfig
    from factory_ai.forecast.train.pipeline import ForecastJob, run
    from factory_ai.registry import Registry

    job = ForecastJob(data=args.data, name="ai4i-risk", fmt="ai4i", folds=args.folds, progress=False, promote=True,
                      network=NetworkConfig(epochs=args.epochs, device=args.device, threads=args.threads))
    start = time.perf_counter()
    outcome = run(job, Registry(args.models))
    seconds = time.perf_counter() - start
    card = outcome.card
    test = card["metrics"]["test"]
    print(f"AI4I 2020: {test['n']} held-out machines ({test['risk']['positives']} failures), trained in {seconds:.0f} s "
          f"on {card['training']['device']}; combine {json.dumps(card['combine']['risk'])}, "
          f"threshold {card['risk_threshold']:.3f}")
    print(f"{'model':<10} {'precision':>9} {'recall':>7} {'F1':>6} {'PR-AUC':>7} {'Brier':>7}")
    rows = {**{m: v.get("risk") for m, v in card["metrics"].get("test_members", {}).items()}, "shipped": test["risk"]}
    for name, r in rows.items():
        if r:
            print(f"{name:<10} {r['precision']:9.3f} {r['recall']:7.3f} {r['f1']:6.3f} {r['pr_auc']:7.3f} {r['brier']:7.4f}")
    args.out.mkdir(parents=True, exist_ok=True)
    if (outcome.ref.path / "reliability.png").is_file():
        shutil.copy(outcome.ref.path / "reliability.png", args.out / "ai4i-reliability.png")
    (args.out / "ai4i.json").write_text(json.dumps({"seconds": seconds, "test": test, "members": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
