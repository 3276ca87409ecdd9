"""Retraining machine health: the last weeks of normal operation in, a frozen holdout, one verdict.

What normal means here: readings from the last ``[retrain.health] window_days`` before the
newest one, without the stretches an alert was open on that asset (something was wrong, or
someone thought so) and without the end of every run that ended in a recorded failure (the
last ``DEGRADING_SHARE``, where wear shows). Machines change slowly (a new seal, a season), and
a health model that learned last year's normal raises alarms at this year's.

The holdout is frozen by asset and day: each (asset, UTC day) falls in or out by a hash of its
name, so the same day always judges and is never trained on. Gaps (excluded stretches, held-out
days) are written as maintenance events, so no window spans one.

When a challenger wins: its persistent false alarms per window on the held-out normal days
may exceed the champion's by ``max_false_alarm_rise`` at most, it must catch at least as many
recorded failures in the window as the champion (an alarm in the last part of the run), and its
parity and its own gate must hold, as for every family.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from factory_ai.family import in_holdout
from factory_ai.forecast.targets import runs
from factory_ai.health.model import degrading_rows
from factory_ai.history.frame import ASSET, TIME, History, as_text

DAY_HOURS = 24.0


def challenge(kit) -> dict[str, Any]:  # noqa: ANN001 - a retrain.run.Kit
    from sqlalchemy import func
    from sqlmodel import select

    from factory_ai.errors import DataError
    from factory_ai.history.readers import read_store
    from factory_ai.registry import gate_passed, read_card
    from factory_ai.store.assets import keys_by_id
    from factory_ai.store.tables import Alert, Reading

    settings, cfg, store = kit.settings, kit.config, kit.store
    name = kit.model_name()
    champion = kit.champion(name)
    champion_card = read_card(champion.path)
    since = kit.last_success()
    with store.session() as session:
        new = session.exec(select(func.count()).select_from(Reading).where(
            *([Reading.ts > since] if since else []))).one()
        found = session.exec(select(Alert.asset_id, Alert.first_seen, Alert.last_seen)
                             .where(Alert.asset_id.is_not(None))).all()
        keys = keys_by_id(session)
        alerts = [(keys[asset_id], first, last) for asset_id, first, last in found]
    if new < cfg.min_new_readings:
        raise kit.Skipped(f"{new} new readings since {'the last retrain' if since else 'the start'}; "
                          f"{cfg.min_new_readings} needed ([retrain.health] min_new_readings)")
    try:
        history, _ = read_store(store, events=True)
    except DataError as exc:
        raise kit.Skipped(str(exc)) from None
    frame = history.frame
    times = frame[TIME].to_numpy(np.float64)
    window = times >= times.max() - cfg.window_days * DAY_HOURS
    run_id, _, _, failed = runs(history)
    normal = window & ~degrading_rows(run_id, failed) & ~_alerted(frame, alerts)
    days = np.floor(times / DAY_HOURS).astype(np.int64)
    keys = [f"{a}@{d}" for a, d in zip(frame[ASSET].astype(str), days, strict=True)]
    held = np.array([in_holdout(hashlib.sha256(k.encode()).hexdigest(), cfg.holdout_percent) for k in keys], bool)
    work = kit.work_dir()
    work.mkdir(parents=True, exist_ok=True)
    train = normal & ~held
    data, events = _export(history, train, work, "train")
    holdout_history = _select(history, normal & held)
    counts = {"readings_new": int(new), "window_rows": int(window.sum()), "normal_rows": int(normal.sum()),
              "training_rows": int(train.sum()), "holdout_rows": int((normal & held).sum()),
              "failures_in_window": int(len(np.unique(run_id[failed & window])))}
    if counts["training_rows"] < 50:
        raise kit.Skipped(f"only {counts['training_rows']} rows of normal operation in the last "
                          f"{cfg.window_days:g} days to learn from")
    version, challenger, card = kit.challenger(name, work, data, events, train_args(champion_card, cfg.train_args))
    threads = settings.runtime.threads
    recent = _select(history, window)
    scores = {"champion": {"version": champion.version, **_judge(champion.path, holdout_history, recent, threads)},
              "challenger": {"version": version, **_judge(challenger.path, holdout_history, recent, threads)}}
    old, chall = scores["champion"], scores["challenger"]
    parity = card.get("parity") or {}
    if chall["windows"] < cfg.min_holdout:
        promoted, reason = False, (f"the frozen holdout has {chall['windows']} scored windows of normal operation, "
                                   f"fewer than the {cfg.min_holdout} needed to judge")
    elif not parity or any(p["max_relative_score_diff"] > p["tolerance"] for p in parity.values()):
        promoted, reason = False, "the challenger's card records no passing torch/onnxruntime parity check"
    elif not gate_passed(card):
        promoted, reason = False, f"the challenger failed its gate before service: {card['gate'].get('sentence')}"
    elif chall["false_alarm_rate"] > old["false_alarm_rate"] + cfg.max_false_alarm_rise:
        promoted, reason = False, (f"champion kept: the challenger raises {chall['false_alarms']} false alarms in "
                                   f"{chall['windows']} held-out normal windows against {old['false_alarms']} "
                                   f"(a rise of at most {cfg.max_false_alarm_rise:g} per window allowed)")
    elif chall["failures_caught"] < old["failures_caught"]:
        promoted, reason = False, (f"champion kept: the challenger catches {chall['failures_caught']} of "
                                   f"{chall['failures']} recorded failures, the champion {old['failures_caught']}")
    else:
        promoted, reason = True, (f"challenger wins: {chall['false_alarms']} false alarms in {chall['windows']} "
                                  f"held-out normal windows (champion {old['false_alarms']}), "
                                  f"{chall['failures_caught']} of {chall['failures']} recorded failures caught "
                                  f"(champion {old['failures_caught']}); learned from the last {cfg.window_days:g} days")
    kit.conclude(name, version, challenger.path, card, promoted, reason)
    return {"model": name, "data": counts, **scores, "decision": "promoted" if promoted else "kept champion",
            "reason": reason, "work_dir": str(work)}


def train_args(card: dict[str, Any], extra: list[str]) -> list[str]:
    """The champion's shape (settings, window, persistence, false-alarm target, members) as
    ``train health`` options, then ``extra``, whose repeats win."""
    args: list[str] = []
    if "--setting" not in extra:
        for setting in card["preprocessing"].get("settings", []):
            args += ["--setting", setting]
    alarm = card["alarm"]
    members = card.get("metrics", {}).get("candidates", {})
    trained = sorted({m for c in members.values() for m in c.get("members", [])}) or list(card["combine"])
    args += ["--window", str(card["window"]), "--k", str(alarm["k"]), "--n", str(alarm["n"]),
             "--false-alarm-rate", f"{alarm['false_alarm_rate']:g}", "--members", ",".join(trained),
             "--time-column", "time", "--no-progress"]
    return args + list(extra)


def _alerted(frame: pd.DataFrame, alerts: list) -> np.ndarray:
    """Rows of an asset while one of its alerts was open (first seen to last seen)."""
    from factory_ai.history.frame import to_hours

    out = np.zeros(len(frame), bool)
    assets = frame[ASSET].astype(str).to_numpy()
    times = frame[TIME].to_numpy(np.float64)
    for asset, first, last in alerts:
        lo, hi = to_hours(pd.Series(pd.to_datetime([first, last], utc=True)))
        out |= (assets == asset) & (times >= lo) & (times <= hi)
    return out


def _select(history: History, rows: np.ndarray) -> History:
    """The chosen rows, with a maintenance event at every gap so no window spans one."""
    frame = history.frame[rows].reset_index(drop=True)
    out = History(frame=frame, sensors=history.sensors, settings=history.settings, time_unit=history.time_unit)
    out.failures = {a: list(t) for a, t in history.failures.items()}
    out.maintenance = {a: sorted(set(history.maintenance.get(a, [])) | set(g)) for a, g in _gaps(history, rows).items()}
    return out


def _gaps(history: History, rows: np.ndarray) -> dict[str, list[float]]:
    """The time of the last chosen row before every stretch of rows left out, per asset."""
    gaps: dict[str, list[float]] = {}
    times = history.frame[TIME].to_numpy(np.float64)
    for asset, index in history.frame.groupby(ASSET, sort=False).indices.items():
        chosen = rows[index]
        ends = np.flatnonzero(chosen[:-1] & ~chosen[1:])
        gaps[str(asset)] = [float(times[index[i]]) for i in ends]
    return gaps


def _export(history: History, rows: np.ndarray, work: Path, stem: str) -> tuple[Path, Path]:
    part = history.frame[rows].copy()
    part[TIME] = as_text(part[TIME])
    data = work / f"{stem}.csv"
    part.to_csv(data, index=False)
    events = [(a, t, "maintenance") for a, ts in _gaps(history, rows).items() for t in ts]
    table = pd.DataFrame(events, columns=["asset", "time", "kind"])
    table["time"] = as_text(table["time"].astype(np.float64))
    path = work / f"{stem}-events.csv"
    table.to_csv(path, index=False)
    return data, path


def _judge(model_dir: Path, holdout: History, recent: History, threads: int) -> dict[str, Any]:
    """Persistent false alarms per scored window on the held-out normal days, and the recorded
    failures in the window caught (an alarm in the last part of their run)."""
    from factory_ai.health.model import HealthModel
    from factory_ai.health.scoring import score_history

    model = HealthModel.load(model_dir, device="cpu", threads=threads)
    scored = [r for r in score_history(model, holdout, every_row=True) if r.error is None]
    alarms = np.array([bool(r.alarm) for r in scored])
    assets = np.array([r.asset for r in scored])
    starts = alarms & ~np.r_[False, alarms[:-1] & (assets[1:] == assets[:-1])] if len(alarms) else alarms
    run_id, _, _, failed = runs(recent)
    late = degrading_rows(run_id, failed)
    results = score_history(model, recent, every_row=True)
    flags = np.array([bool(r.alarm) for r in results])
    caught = sum(bool(flags[(run_id == run) & late].any()) for run in np.unique(run_id[failed]))
    return {"windows": int(len(scored)), "false_alarms": int(starts.sum()),
            "false_alarm_rate": float(starts.sum() / max(len(scored), 1)),
            "failures": int(len(np.unique(run_id[failed]))), "failures_caught": int(caught)}
