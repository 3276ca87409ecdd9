"""Retraining the failure forecast: store histories and events in, held-out runs, one verdict.

The unit of the holdout is a run that ended in a failure, chosen by a hash of its asset and
failure time: the same run always falls on the same side, so the holdout is frozen, grows only
as new failures are recorded, and is never trained on (its rows and its failure event are left
out of the export; the runs before and after it on the same asset still train). Runs that ended
in maintenance stay in training: their remaining life is unknown, so they cannot judge.

A held-out run is judged as the line would have seen it: cut at up to ``cuts`` points, each cut
is forecast from the readings up to it (onnxruntime, the same code path as the daemon), and the
forecast RUL is compared with the time that truly remained until the failure, capped as the
champion caps it. Both models answer for the same cuts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from factory_ai.family import in_holdout
from factory_ai.forecast.model import ForecastModel
from factory_ai.forecast.predict import forecast_assets
from factory_ai.forecast.targets import runs
from factory_ai.history.frame import ASSET, TIME, History, as_text


@dataclass
class HeldRun:
    name: str  # asset@failure time
    frame: pd.DataFrame  # the run's rows, oldest first
    failure: float  # failure time, hours since 1970


@dataclass
class Exported:
    data: Path
    events: Path
    holdout: list[HeldRun]
    counts: dict[str, int]


def export(history: History, work: Path, percent: float) -> Exported:
    """Write the training CSV and events CSV for ``factory-ai train forecast``; keep the holdout."""
    work.mkdir(parents=True, exist_ok=True)
    frame = history.frame
    run_id, _, end, failed = runs(history)
    assets = frame[ASSET].to_numpy()
    held_runs: dict[int, HeldRun] = {}
    for run in np.unique(run_id[failed]):
        rows = np.flatnonzero(run_id == run)
        asset, when = str(assets[rows[0]]), float(end[rows[0]])
        name = f"{asset}@{as_text(when)}"
        if in_holdout(hashlib.sha256(name.encode()).hexdigest(), percent):
            held_runs[int(run)] = HeldRun(name, frame.iloc[rows].reset_index(drop=True), when)
    held = np.isin(run_id, list(held_runs))
    train = frame[~held].copy()
    train[TIME] = as_text(train[TIME])
    data = work / "readings.csv"
    train.to_csv(data, index=False)
    held_events = {(r.name.split("@")[0], r.failure) for r in held_runs.values()}
    rows = [(asset, as_text(t), kind) for kind, table in (("failure", history.failures),
                                                      ("maintenance", history.maintenance))
            for asset, times in table.items() for t in times
            if not (kind == "failure" and (asset, t) in held_events)]
    events = work / "events.csv"
    pd.DataFrame(sorted(rows), columns=["asset", "time", "kind"]).to_csv(events, index=False)
    if held_runs:
        pd.concat([r.frame.assign(run=r.name) for r in held_runs.values()]).to_csv(work / "holdout.csv", index=False)
    counts = {"assets": len(history.assets()), "rows": len(frame), "training_rows": len(train),
              "failures": sum(len(t) for t in history.failures.values()),
              "maintenance": sum(len(t) for t in history.maintenance.values()),
              "holdout_runs": len(held_runs), "holdout_rows": int(held.sum())}
    return Exported(data, events, list(held_runs.values()), counts)


def cuts(holdout: list[HeldRun], *, min_rows: int, per_run: int) -> tuple[History, dict[str, float]]:
    """The held-out runs cut at up to ``per_run`` points each: one pseudo-asset per cut holding
    the run's readings up to it, and the time that truly remained after each."""
    pieces, remaining = [], {}
    for run in holdout:
        n = len(run.frame)
        if n < min_rows:
            continue
        for position in np.unique(np.linspace(min_rows - 1, n - 1, min(per_run, n - min_rows + 1)).round().astype(int)):
            name = f"{run.name}#{position}"
            piece = run.frame.iloc[:position + 1].assign(**{ASSET: name})
            pieces.append(piece)
            remaining[name] = run.failure - float(piece[TIME].iloc[-1])
    if not pieces:
        return History(frame=pd.DataFrame(columns=[ASSET, TIME]), sensors=[]), {}
    frame = pd.concat(pieces, ignore_index=True)
    sensors = [c for c in frame.columns if c not in (ASSET, TIME)]
    return History(frame=frame, sensors=sensors, time_unit="hour"), remaining


def score(model_dir: Path, history: History, remaining: dict[str, float], *, cap: float, horizon: float,
          threads: int = 0) -> dict[str, Any]:
    """RUL error (against the true remaining life, capped at ``cap``), interval coverage and the
    Brier score of the risk within ``horizon``, of the model in ``model_dir`` on the cuts."""
    model = ForecastModel.load(model_dir, device="cpu", threads=threads)
    results = forecast_assets(model, history) if remaining else []
    answered = [r for r in results if r.rul is not None]
    if not answered:
        return {"n": 0, "errors": len(results), "rmse": float("nan")}
    truth = np.array([remaining[r.asset] for r in answered])
    capped = np.minimum(truth, cap)
    rul = np.array([r.rul for r in answered])
    low = np.array([r.rul_low for r in answered])
    high = np.array([r.rul_high for r in answered])
    out = {"n": len(answered), "errors": len(results) - len(answered),
           "rmse": round(float(np.sqrt(np.mean((rul - capped) ** 2))), 3),
           "mae": round(float(np.mean(np.abs(rul - capped))), 3),
           "interval_coverage": round(float(np.mean((capped >= low) & (capped <= high))), 3)}
    risk = np.array([np.nan if r.risk is None else r.risk for r in answered])
    if np.isfinite(risk).all():
        out["brier"] = round(float(np.mean((risk - (truth <= horizon)) ** 2)), 4)
    return out


def train_args(card: dict[str, Any], extra: list[str]) -> list[str]:
    """The champion's shape (settings, horizon, cap, window, members, network) as `train forecast`
    options, then ``extra``: the challenger differs in its data, not in what it forecasts. Options
    given again in ``extra`` win (the last of a repeated option counts; settings are replaced)."""
    pre = card["preprocessing"]
    args: list[str] = []
    if "--setting" not in extra:
        for setting in pre.get("settings", []):
            args += ["--setting", setting]
    args += ["--horizon", f"{card['horizon']:g}", "--rul-cap", f"{card['rul_cap']:g}", "--window", str(card["window"]),
             "--min-history", str(pre["min_history"]), "--members", ",".join(card["members"])]
    network = card["members"].get("network")
    if network:
        args += ["--network", network["architecture"], "--width", str(network["width"])]
    folds = card.get("training", {}).get("folds")
    if folds:
        args += ["--folds", str(folds)]
    return args + list(extra)


def parity_ok(card: dict[str, Any]) -> tuple[bool, str]:
    checks = card.get("parity") or {}
    if not checks:
        return False, "the card records no torch/onnxruntime parity check"
    for member, check in checks.items():
        limit = check.get("tolerance", {})
        if check["max_rul_diff_cycles"] > limit.get("rul_cycles", 0) or check["max_risk_diff"] > limit.get("risk", 0):
            return False, (f"parity failed for {member}: max |ΔRUL| {check['max_rul_diff_cycles']:.3g}, "
                           f"max |Δrisk| {check['max_risk_diff']:.3g}")
    worst = max(c["max_rul_diff_cycles"] for c in checks.values())
    return True, f"parity ok for {', '.join(checks)} (max |ΔRUL| {worst:.1e})"


def challenge(kit) -> dict[str, Any]:  # noqa: ANN001 - a retrain.run.Kit
    """Challenge the forecast in service with one trained on the store's runs and events."""
    from sqlalchemy import func
    from sqlmodel import select

    from factory_ai.errors import DataError
    from factory_ai.history.readers import read_store
    from factory_ai.registry import read_card
    from factory_ai.store.tables import Event

    settings, store, cfg = kit.settings, kit.store, kit.config
    if not settings.daemon.forecast_model:
        raise kit.Skipped("no forecast model to challenge: set [daemon] forecast_model")
    name = settings.daemon.forecast_model
    champion = kit.champion(name)
    champion_card = read_card(champion.path)
    if champion_card.get("task") != "rul" or champion_card.get("time_unit") != "hour":
        raise kit.Skipped(f"{name} {champion.version} is not an RUL model on timestamped data; the store holds "
                          "timestamped runs, so retrain it by hand with `factory-ai train forecast`")
    since = kit.last_success()
    with store.session() as session:
        new = session.exec(select(func.count()).select_from(Event).where(
            *([Event.created_at > since] if since else []))).one()
    if new < cfg.min_new_events:
        raise kit.Skipped(f"{new} new failure/maintenance events since {'the last retrain' if since else 'the start'}; "
                          f"{cfg.min_new_events} needed ([retrain.forecast] min_new_events; record them with "
                          "`factory-ai events`)")
    try:
        history, _ = read_store(store, events=True)
    except DataError as exc:
        raise kit.Skipped(str(exc)) from None
    work = kit.work_dir()
    data = export(history, work, cfg.holdout_percent)
    if data.counts["holdout_runs"] < cfg.min_holdout_runs:  # no challenger could be judged: do not train one
        raise kit.Skipped(f"the frozen holdout has {data.counts['holdout_runs']} failure runs "
                          f"(of {data.counts['failures']} failures recorded), {cfg.min_holdout_runs} needed to judge "
                          "([retrain.forecast] min_holdout_runs, holdout_percent)")
    version, challenger, card = kit.challenger(name, work, data.data, data.events,
                                               train_args(champion_card, cfg.train_args))
    min_rows = max(champion_card["preprocessing"]["min_history"], card["preprocessing"]["min_history"])
    held, remaining = cuts(data.holdout, min_rows=min_rows, per_run=cfg.cuts_per_run)
    judge = dict(cap=float(champion_card["rul_cap"]), horizon=float(champion_card["horizon"]),
                 threads=settings.runtime.threads)
    scores = {"champion": {"version": champion.version, **score(champion.path, held, remaining, **judge)},
              "challenger": {"version": version, **score(challenger.path, held, remaining, **judge)}}
    parity = parity_ok(card)
    if scores["challenger"]["n"] < scores["champion"]["n"]:
        parity = (False, f"the challenger forecast only {scores['challenger']['n']} of the "
                  f"{scores['champion']['n']} holdout cuts the champion forecast")
    promoted, reason = kit.decide(scores["champion"], scores["challenger"], card, metric="rmse",
                                  higher_is_better=False, margin=cfg.margin, relative=True, parity=parity,
                                  holdout=min(scores["champion"]["n"], scores["challenger"]["n"]),
                                  min_holdout=cfg.min_holdout)
    kit.conclude(name, version, challenger.path, card, promoted, reason)
    return {"model": name, "new_events": new, "data": data.counts, **scores, "margin": cfg.margin,
            "decision": "promoted" if promoted else "kept champion", "reason": reason, "work_dir": str(work)}
