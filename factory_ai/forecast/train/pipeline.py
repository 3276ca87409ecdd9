"""``factory-ai train forecast``: from sensor history to a registered, verified forecast version.

The steps, in order:

1. Read the history; set aside assets whose data is unusable (each named, with the reason).
2. Label every row (capped RUL and failure within the horizon, censored where the run did not
   end in a failure), and fit the pre-processing (regimes, normalisation, sensor selection) on
   the training assets only.
3. Split the training assets into K folds (grouped by asset, so no machine is on both sides;
   stratified by label for snapshot tables). Each fold trains a temporal network and a
   gradient-boosting model on the other folds and predicts its own: out-of-fold predictions
   for every training row.
4. On those out-of-fold predictions, decide how to combine the members (each alone or the
   mean, whichever is more accurate), how far to widen the RUL interval so that it covers
   ``coverage`` of outcomes (split-conformal), the Platt calibration of the risk, and the
   alarm threshold (best F1).
5. Export the K networks as one ONNX graph and the K boosters as another, prove both against
   torch and scikit-learn, and evaluate the exported files on the test data (a given test file,
   else held-out assets): the figures describe what ships.
6. Write the card and plots, and move the version into the registry in one rename.

The fold models are the final members (their mean), so the out-of-fold figures that chose the
combination describe the same models that ship. The pre-processing is fitted once on all
training assets, the validation folds included; it uses no test data.
"""

from __future__ import annotations

import json
import logging
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from factory_ai import __version__
from factory_ai.errors import DataError
from factory_ai.forecast import metrics as M
from factory_ai.forecast.features import Preprocessor, summarise, summary_names
from factory_ai.forecast.model import FAMILY, GBM, NETWORK, ForecastModel, calibrated, combine, half_widths
from factory_ai.forecast.targets import label_rows, snapshot_targets
from factory_ai.forecast.train import gbm as gbm_module
from factory_ai.forecast.train.fit import Arrays, NetworkConfig, TrainedNetwork
from factory_ai.history.frame import ASSET, TIME, History
from factory_ai.history.readers import read
from factory_ai.reference import summarize_columns
from factory_ai.registry import ModelRef, Registry, artifact_entry, write_card
from factory_ai.store.types import utcnow

log = logging.getLogger(__name__)
MEMBERS = (NETWORK, GBM)
PARITY_ROWS = 2048


@dataclass
class ForecastJob:
    data: Path
    name: str
    fmt: str = "auto"
    test: Path | None = None
    events: Path | None = None
    run_to_failure: bool | None = None
    asset_col: str = "asset"
    time_col: str = "time"
    settings: list[str] = field(default_factory=list)
    horizon: float = 30.0
    rul_cap: float = 125.0
    window: int = 40
    min_history: int = 5
    folds: int = 5
    members: tuple[str, ...] = MEMBERS
    coverage: float = 0.8
    test_fraction: float = 0.2
    promote: bool = False
    progress: bool = True
    network: NetworkConfig = field(default_factory=NetworkConfig)
    gbm: gbm_module.GBMConfig = field(default_factory=gbm_module.GBMConfig)


@dataclass
class Rows:
    """Every usable window of a history, with what is known about its future."""

    windows: np.ndarray
    rul: np.ndarray  # capped at the model's cap; NaN where unknown
    rul_true: np.ndarray  # uncapped; NaN where unknown
    risk: np.ndarray  # 1 / 0, -1 unknown
    asset: np.ndarray
    time: np.ndarray
    last: np.ndarray  # True at each asset's final row

    def take(self, index: np.ndarray) -> Rows:
        return Rows(*(getattr(self, f)[index] for f in ("windows", "rul", "rul_true", "risk", "asset", "time", "last")))

    def __len__(self) -> int:
        return len(self.windows)


@dataclass
class ForecastOutcome:
    ref: ModelRef
    card: dict[str, Any]
    promoted: bool
    networks: list[TrainedNetwork]
    gbm_folds: list[gbm_module.GBMFold]
    test_rows: Rows | None

    def summary(self) -> str:
        card = self.card
        lines = [f"model {self.ref.name} {self.ref.version} -> {self.ref.path}"]
        lines.append(f"task {card['task']}, window {card['window']} rows, horizon {card['horizon']:g} {card['time_unit']}s"
                     + (f", RUL cap {card['rul_cap']:g}" if card.get("rul_cap") else ""))
        lines.append(f"members: {', '.join(card['members'])}; combine {json.dumps(card['combine'])}")
        for part in ("validation", "test"):
            m = card["metrics"].get(part)
            if m:
                lines.append(f"{part} ({m['scope']}): {headline(m)}")
        for name, parity in card["parity"].items():
            lines.append(f"parity {name}: max |ΔRUL| {parity['max_rul_diff_cycles']:.1e}, "
                         f"max |Δrisk| {parity['max_risk_diff']:.1e} on {parity['rows']} windows")
        lines.append(f"trained on {card['training']['device']} in {card['training']['seconds']:.0f} s")
        lines.append("now current (in service)" if self.promoted else
                     f"not in service yet: factory-ai models promote {self.ref.name} {self.ref.version}")
        return "\n".join(lines)


def headline(m: dict[str, Any]) -> str:
    """One line of the figures that matter, for a metrics block of the card."""
    parts = []
    if m.get("rul"):
        r = m["rul"]
        raw = "" if r["truth_above_cap"] == 0 else f" (vs uncapped truth {r['rmse']:.2f})"
        parts.append(f"RMSE {r['rmse_capped_truth']:.2f}{raw}, NASA score {r['nasa_score_capped_truth']:.0f}, "
                     f"interval coverage {r['interval_coverage']:.0%}")
    if m.get("risk"):
        k = m["risk"]
        parts.append(f"risk precision {k['precision']:.2f} recall {k['recall']:.2f} F1 {k['f1']:.2f} "
                     f"PR-AUC {k['pr_auc']:.3f}")
    return "; ".join(parts) + f" ({m['n']} windows)"


# -- the job ---------------------------------------------------------------------------------
def run(job: ForecastJob, registry: Registry) -> ForecastOutcome | None:
    _check_job(job)
    history = _load(job.data, job, role="training")
    snapshots = history.labels is not None
    test_history = _load(job.test, job, role="test") if job.test is not None else None
    if test_history is None:
        history, test_history = _hold_out(history, job)

    targets = snapshot_targets(history) if snapshots else _labels(history, job)
    window, min_history = (1, 1) if snapshots else (job.window, job.min_history)
    try:
        pre = Preprocessor.fit(history, targets, window=window, min_history=min_history, use_age=not snapshots,
                               seed=job.network.seed)
    except ValueError as exc:
        raise DataError(f"{job.data}: {exc}") from None
    for sensor, why in pre.dropped.items():
        log.info("sensor %s dropped: %s", sensor, why)
    train_rows = rows_of(history, pre, cap=job.rul_cap, horizon=job.horizon)
    if len(train_rows) == 0:
        raise DataError(f"{job.data}: no usable training windows (histories shorter than {min_history} rows?)")
    task = "risk" if snapshots else "rul"
    folds = _folds(train_rows, job.folds, snapshots, job.network.seed)
    networks, boosters, oof = _cross_fit(train_rows, folds, job, task)
    if job.network.distributed:
        from factory_ai.training import leave_world

        leave_world()
        if not networks[0].world.main:  # rank 0 fits the trees, exports and registers; the others are done
            return None

    decided = _decide(job, task, pre, train_rows, oof)
    test_rows = rows_of(test_history, pre, cap=job.rul_cap, horizon=job.horizon) if test_history else None
    # Test files that give the remaining life after each asset's last row (C-MAPSS) are
    # judged at that row, as the published results are; held-out histories at every row.
    at_last = test_history is not None and test_history.true_rul is not None

    def build(version: str, staging: Path) -> dict[str, Any]:
        card = {**decided, "version": version}
        _export(card, staging, networks, boosters, pre, train_rows, job)
        _evaluate(card, staging, train_rows, oof, test_rows, job, at_last)
        # What the drift job compares live readings with: each sensor's training distribution.
        card["drift_reference"] = {"sensors": summarize_columns(history.frame, list(pre.sensors))}
        card = _ordered(card)
        write_card(staging, card)
        return card

    ref, card, promoted = registry.publish(job.name, build, promote=job.promote)
    return ForecastOutcome(ref=ref, card=card, promoted=promoted, networks=networks, gbm_folds=boosters,
                           test_rows=test_rows)


def _check_job(job: ForecastJob) -> None:
    unknown = set(job.members) - set(MEMBERS)
    if not job.members or unknown:
        raise DataError(f"members {sorted(unknown) or '(none)'}: use network, gbm or both")
    if job.folds < 2:
        raise DataError("--folds must be at least 2 (the out-of-fold predictions choose the combination)")
    if job.network.distributed and NETWORK not in job.members:
        raise DataError("--distributed trains the network member across processes; with trees only there is "
                        "nothing to distribute (drop --distributed)")
    if job.horizon <= 0 or job.rul_cap <= 0:
        raise DataError("--horizon and --rul-cap must be positive")


def _load(path: Path, job: ForecastJob, role: str) -> History:
    history, notes = read(path, job.fmt, asset_col=job.asset_col, time_col=job.time_col, settings=job.settings or None,
                          events=job.events if role == "training" else None,
                          run_to_failure=job.run_to_failure if role == "training" else None)
    for note in notes:
        log.info("%s: %s", path.name, note)
    problems = history.problems()
    if problems:
        for asset, why in list(problems.items())[:20]:
            log.warning("%s: asset %s set aside: %s", path.name, asset, why)
        if len(problems) > 20:
            log.warning("%s: %d more assets set aside", path.name, len(problems) - 20)
        keep = [a for a in history.assets() if a not in problems]
        if not keep:
            raise DataError(f"{path}: every asset has unusable data (first: {next(iter(problems.values()))})")
        history = history.select(keep)
    return history


def _labels(history: History, job: ForecastJob):  # noqa: ANN202
    if not any(history.failures.values()):
        raise DataError(f"{job.data}: no failures recorded, so there is nothing to learn remaining life from; "
                        "give --events FILE (columns asset, time, kind) or --run-to-failure "
                        "(each asset's last row is its failure)")
    return label_rows(history, job.rul_cap, job.horizon)


def _hold_out(history: History, job: ForecastJob) -> tuple[History, History | None]:
    """Without a test file: keep ``test_fraction`` of the assets (snapshot rows, stratified) apart."""
    rng = np.random.default_rng(job.network.seed)
    if history.labels is not None:
        from sklearn.model_selection import train_test_split

        index = np.arange(len(history.frame))
        train_idx, test_idx = train_test_split(index, test_size=job.test_fraction, stratify=history.labels,
                                               random_state=job.network.seed)
        return _rows_subset(history, np.sort(train_idx)), _rows_subset(history, np.sort(test_idx))
    assets = history.assets()
    n_test = int(round(len(assets) * job.test_fraction))
    if n_test == 0 or len(assets) - n_test < job.folds:
        log.warning("only %d assets: no held-out test assets; figures are out-of-fold only", len(assets))
        return history, None
    test = set(rng.permutation(assets)[:n_test].tolist())
    log.info("held out %d of %d assets for the test figures", n_test, len(assets))
    return history.select([a for a in assets if a not in test]), history.select([a for a in assets if a in test])


def _rows_subset(history: History, index: np.ndarray) -> History:
    assert history.labels is not None
    return History(frame=history.frame.iloc[index].reset_index(drop=True), sensors=history.sensors,
                   settings=history.settings, time_unit=history.time_unit, labels=history.labels[index])


def rows_of(history: History, pre: Preprocessor, *, cap: float, horizon: float) -> Rows:
    """Windows ending at every row with at least ``min_history`` rows of its run behind it."""
    frame = history.frame
    targets = snapshot_targets(history) if history.labels is not None else label_rows(history, cap, horizon)
    rul_true, rul = targets.rul_uncapped, targets.rul
    if history.true_rul is not None:  # the truth after each asset's last row is given (C-MAPSS test)
        last_time = frame.groupby(ASSET, sort=False)[TIME].transform("max").to_numpy()
        rul_true = frame[ASSET].map(history.true_rul).to_numpy(np.float64) + (last_time - frame[TIME].to_numpy())
        rul = np.minimum(rul_true, cap)
        targets.risk = (rul_true <= horizon).astype(np.int8)
    channels = pre.transform(frame, targets.run_start)
    windows = pre.windows(channels, targets.run_id)
    position = pd.Series(targets.run_id).groupby(targets.run_id).cumcount().to_numpy() + 1
    known = np.isfinite(rul) | (targets.risk >= 0)
    usable = (position >= pre.min_history) & known
    last = ~frame[ASSET].duplicated(keep="last").to_numpy()
    keep = np.flatnonzero(usable)
    return Rows(windows[keep], rul[keep], rul_true[keep], targets.risk[keep].astype(np.int8),
                frame[ASSET].to_numpy()[keep], frame[TIME].to_numpy()[keep], last[keep])


def _folds(rows: Rows, k: int, snapshots: bool, seed: int) -> list[np.ndarray]:
    """Validation index per fold: whole assets per fold, or stratified rows for snapshots."""
    if snapshots:
        from sklearn.model_selection import StratifiedKFold

        splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
        return [val for _, val in splitter.split(rows.windows[:, 0, :], rows.risk)]
    assets = pd.unique(rows.asset)
    if len(assets) < k:
        raise DataError(f"{len(assets)} usable assets for {k} folds; lower --folds or add run-to-failure histories")
    order = np.random.default_rng(seed).permutation(assets)
    fold_of = {a: i % k for i, a in enumerate(order)}
    assignment = np.array([fold_of[a] for a in rows.asset])
    return [np.flatnonzero(assignment == i) for i in range(k)]


def _cross_fit(rows: Rows, folds: list[np.ndarray], job: ForecastJob, task: str):  # noqa: ANN202
    from factory_ai.forecast.train.fit import fit as fit_network
    from factory_ai.forecast.train.fit import predict as network_predict

    n = len(rows)
    oof: dict[str, dict[str, np.ndarray]] = {}
    networks: list[TrainedNetwork] = []
    boosters: list[gbm_module.GBMFold] = []
    features = summarise(rows.windows) if GBM in job.members else None
    for i, val in enumerate(folds):
        train = np.setdiff1d(np.arange(n), val)
        log.info("fold %d/%d: %d training windows, %d validation windows", i + 1, len(folds), len(train), len(val))
        if NETWORK in job.members:
            config = NetworkConfig(**{**job.network.as_dict(), "seed": job.network.seed + i})
            if task == "risk":
                config.risk_weight = 1.0
            trained = fit_network(_arrays(rows, train), _arrays(rows, val), job.rul_cap, config, progress=job.progress)
            networks.append(trained)
            q, logit = network_predict(trained.network, rows.windows[val])
            slot = oof.setdefault(NETWORK, {k: np.full(n, np.nan) for k in ("low", "rul", "high", "risk")})
            slot["low"][val], slot["rul"][val], slot["high"][val] = (q[:, j] * job.rul_cap for j in range(3))
            slot["risk"][val] = 1.0 / (1.0 + np.exp(-logit.astype(np.float64)))
        if GBM in job.members and (not networks or networks[-1].world.main):  # trees: rank 0 only
            assert features is not None
            fold = gbm_module.fit(features[train], rows.rul[train], rows.risk[train], job.gbm, seed=job.gbm.seed + i)
            boosters.append(fold)
            for key, value in gbm_module.predict([fold], features[val]).items():
                oof.setdefault(GBM, {}).setdefault(key, np.full(n, np.nan))[val] = value
    return networks, boosters, oof


def _arrays(rows: Rows, index: np.ndarray) -> Arrays:
    return Arrays(windows=rows.windows[index], rul=rows.rul[index], risk=rows.risk[index])


# -- choices made on out-of-fold predictions ---------------------------------------------------------
def _decide(job: ForecastJob, task: str, pre: Preprocessor, rows: Rows, oof: dict) -> dict[str, Any]:
    card: dict[str, Any] = {"task": task, "rul_cap": job.rul_cap if task == "rul" else None,
                            "horizon": job.horizon, "interval": {"coverage": job.coverage, "widen": 0.0},
                            "combine": {"rul": {}, "risk": {}}, "risk_calibration": None}
    known = np.isfinite(rows.rul)
    if task == "rul":
        options = _options([m for m in oof if "rul" in oof[m]])
        scores = {json.dumps(o): _rmse(sum(w * oof[m]["rul"][known] for m, w in o.items()), rows.rul[known])
                  for o in options}
        best = min(scores, key=scores.get)
        card["combine"]["rul"] = json.loads(best)
        card["choice_rul_rmse_oof"] = scores
        centre = combine(card, oof, len(rows)).rul
        # Split-conformal widening: how far outside its interval the truth falls, at the
        # coverage asked for, on rows the models did not train on.
        below, above = half_widths(card, oof, len(rows))
        outside = np.maximum((centre - below) - rows.rul, rows.rul - (centre + above))[known]
        card["interval"]["widen"] = float(np.quantile(outside, job.coverage)) if len(outside) else 0.0
    labelled = rows.risk >= 0
    risk_members = [m for m in oof if "risk" in oof[m]]
    if risk_members and len(np.unique(rows.risk[labelled])) == 2:
        y = rows.risk[labelled]
        scores = {json.dumps(o): _log_loss(sum(w * oof[m]["risk"][labelled] for m, w in o.items()), y)
                  for o in _options(risk_members)}
        best = min(scores, key=scores.get)
        card["combine"]["risk"] = json.loads(best)
        card["choice_risk_logloss_oof"] = scores
        raw = sum(w * oof[m]["risk"][labelled] for m, w in card["combine"]["risk"].items())
        card["risk_calibration"] = _platt(raw, y)
        card["risk_threshold"] = M.best_f1_threshold(y, calibrated(card, raw))
    else:
        log.warning("failure within the horizon never (or always) happens in the training data: no risk output")
    card["preprocessing"] = pre.as_dict()
    return card


def _options(members: list[str]) -> list[dict[str, float]]:
    options = [{m: 1.0} for m in members]
    if len(members) == 2:
        options.append({m: 0.5 for m in members})
    return options


def _rmse(predicted: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(predicted) - truth) ** 2)))


def _log_loss(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _platt(raw: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Logistic fit of the outcome on the logit of the raw probability (Platt scaling)."""
    from sklearn.linear_model import LogisticRegression

    p = np.clip(raw, 1e-6, 1 - 1e-6)
    logit = np.log(p / (1 - p))[:, None]
    fitted = LogisticRegression(C=1e4, max_iter=1000).fit(logit, y)
    return {"a": float(fitted.coef_[0, 0]), "b": float(fitted.intercept_[0]), "method": "platt (out-of-fold)"}


# -- export, evaluation, card -----------------------------------------------------------------------
def _export(card: dict[str, Any], staging: Path, networks: list[TrainedNetwork], boosters: list[gbm_module.GBMFold],
            pre: Preprocessor, rows: Rows, job: ForecastJob) -> None:
    import onnxruntime
    import torch

    from factory_ai.forecast.train import export
    from factory_ai.forecast.train.network import save as save_network

    rng = np.random.default_rng(job.network.seed)
    sample = np.sort(rng.permutation(len(rows))[:PARITY_ROWS])
    windows = rows.windows[sample]
    card["members"], card["parity"], card["artifacts"], card["export"] = {}, {}, {}, {}
    # Every trained member ships, so its own test figures come from its exported file; the
    # line side runs only those the combination uses.
    if networks:
        ensemble = export.FoldEnsemble([t.network for t in networks])
        path = staging / "network.onnx"
        card["export"][NETWORK] = export.export_network(ensemble, pre.window, len(pre.channels), path)
        card["parity"][NETWORK] = export.check_network(ensemble, path, windows, job.rul_cap)
        card["members"][NETWORK] = {"artifact": path.name, "input": "windows [N, window, channels] float32",
                                    "outputs": "quantiles [N, 3] (10/50/90 %, fractions of rul_cap), risk_logit [N]",
                                    "folds": len(networks), "architecture": job.network.network,
                                    "width": job.network.width}
        card["artifacts"][path.name] = artifact_entry(path)
        for k, trained in enumerate(networks):
            save_network(trained.network, str(staging / f"network.fold{k}.pt"), kind=job.network.network,
                         channels=trained.channels, width=job.network.width)
    if boosters:
        features = summarise(windows)
        path = staging / "gbm.onnx"
        card["export"][GBM] = export.export_gbm(boosters, features.shape[1], path)
        card["parity"][GBM] = export.check_gbm(boosters, path, features)
        card["members"][GBM] = {"artifact": path.name, "input": "features [N, F] float32: window summaries",
                                "features": summary_names(pre.channels, pre.window), "folds": len(boosters),
                                "estimator": "HistGradientBoosting", **job.gbm.as_dict()}
        card["artifacts"][path.name] = artifact_entry(path)
    seconds = sum(t.seconds for t in networks)
    card.update({
        "schema_version": 1, "name": job.name, "family": FAMILY, "created_at": utcnow().isoformat(),
        "description": "Failure forecast: remaining useful life with an interval, and the risk of failure within "
                       "the horizon" if card["task"] == "rul" else "Failure risk from independent snapshots",
        "time_unit": pre.time_unit, "window": pre.window,
        "features": {"channels": pre.channels, "dropped": pre.dropped, "settings": pre.settings,
                     "regimes": len(pre.centroids)},
        "training": {"data": str(job.data), "format": job.fmt, "folds": job.folds, "assets": int(len(pd.unique(rows.asset))),
                     "windows": len(rows), "network": job.network.as_dict() if networks else None,
                     "device": networks[0].device if networks else "cpu", "seconds": round(seconds, 1),
                     "best_epochs": [t.best_epoch for t in networks],
                     "processes": networks[0].world.size if networks else 1},
        "versions": {"factory_ai": __version__, "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
                     "python": platform.python_version()},
        "metrics": {},
    })
    if not card["members"]:
        raise DataError("no member produced a usable output")
    write_card(staging, card)


def _evaluate(card: dict[str, Any], staging: Path, rows: Rows, oof: dict, test: Rows | None, job: ForecastJob,
              at_last: bool) -> None:
    """Out-of-fold figures (the combination chosen on them), then the exported model on test data."""
    card["metrics"]["validation"] = _figures(card, {m: oof[m] for m in card["members"]}, rows,
                                             "out-of-fold, every window, truth capped", raw_truth=False)
    curves = {"out-of-fold": card["metrics"]["validation"].get("risk", {}).get("reliability", [])}
    if test is not None and len(test):
        model = ForecastModel.load(staging, device="cpu")
        scope = "each asset's last window" if at_last else "every window, truth capped"
        subset = test.take(np.flatnonzero(test.last)) if at_last else test
        raw = model.raw(subset.windows)
        card["metrics"]["test"] = _figures(card, raw, subset, scope, raw_truth=at_last)
        card["metrics"]["test_members"] = {m: _figures(_alone(card, m, raw[m]), {m: raw[m]}, subset, scope,
                                                       raw_truth=at_last)
                                           for m in card["members"] if len(card["members"]) > 1}
        curves["test"] = card["metrics"]["test"].get("risk", {}).get("reliability", [])
        if card["task"] == "rul" and np.isfinite(subset.rul_true).any():
            forecast = combine(card, raw, len(subset))
            known = np.isfinite(subset.rul_true)
            M.plot_rul_scatter(forecast.rul[known], forecast.rul_low[known], forecast.rul_high[known],
                               subset.rul_true[known], job.rul_cap, staging / "rul_scatter.png",
                               f"{job.name}: predicted vs true RUL")
            _plot_trajectories(model, test, staging / "trajectories.png", job)
    if card["risk_calibration"]:
        M.plot_reliability(curves, staging / "reliability.png", f"{job.name}: failure within {job.horizon:g} "
                                                                f"{card['time_unit']}s")
    (staging / "evaluation.json").write_text(json.dumps(card["metrics"], indent=2) + "\n", encoding="utf-8")


def _alone(card: dict[str, Any], member: str, outputs: dict[str, np.ndarray]) -> dict[str, Any]:
    """The card as if ``member`` were the only one (for the per-member test figures)."""
    solo = {**card, "combine": {kind: ({member: 1.0} if weights and kind in outputs else {})
                                for kind, weights in card["combine"].items()}}
    # The interval keeps the combination's conformal margin: per-member coverage is indicative.
    return solo


def _figures(card: dict[str, Any], outputs: dict, rows: Rows, scope: str, *, raw_truth: bool) -> dict[str, Any]:
    """RUL and risk figures of a combination. Along whole histories the truth is capped, as the
    models are trained (nobody can tell 300 from 200 hours left on a healthy machine); at the
    last window of test files that state the truth (C-MAPSS), the truth as given is reported
    too, with the capped figures beside it."""
    forecast = combine(card, outputs, len(rows))
    result: dict[str, Any] = {"scope": scope, "n": len(rows)}
    if card["task"] == "rul" and card["combine"]["rul"]:
        truth = rows.rul_true if raw_truth else rows.rul
        known = np.isfinite(truth)
        if known.any():
            result["rul"] = M.rul_metrics(forecast.rul[known], forecast.rul_low[known], forecast.rul_high[known],
                                          truth[known], float(card["rul_cap"]))
    labelled = rows.risk >= 0
    if card["combine"]["risk"] and labelled.any() and np.isfinite(forecast.risk).any():
        result["risk"] = M.risk_metrics(rows.risk[labelled], forecast.risk[labelled], card["risk_threshold"])
    return result


def _plot_trajectories(model: ForecastModel, rows: Rows, path: Path, job: ForecastJob, units: int = 6) -> None:
    """Predicted RUL (with interval) against the truth along the history of a few assets."""
    plt = M._pyplot()  # noqa: SLF001
    assets = [a for a in pd.unique(rows.asset)]
    lengths = {a: int((rows.asset == a).sum()) for a in assets}
    chosen = sorted(assets, key=lambda a: -lengths[a])[: max(1, units)]
    fig, axes = plt.subplots(2, (len(chosen) + 1) // 2, figsize=(3.2 * ((len(chosen) + 1) // 2), 5.6), squeeze=False)
    for ax, asset in zip(axes.ravel(), chosen, strict=False):
        part = rows.take(np.flatnonzero(rows.asset == asset))
        forecast = model.predict(part.windows)
        ax.fill_between(part.time, forecast.rul_low, forecast.rul_high, alpha=0.25, label="interval")
        ax.plot(part.time, forecast.rul, label="predicted")
        ax.plot(part.time, np.minimum(part.rul_true, job.rul_cap), color="black", linestyle="--", label="true (capped)")
        ax.set_title(f"asset {asset}", fontsize=9)
        ax.set_xlabel(model.card["time_unit"], fontsize=8)
    for ax in axes.ravel()[len(chosen):]:
        ax.axis("off")
    axes[0, 0].set_ylabel("remaining life")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


CARD_ORDER = ("schema_version", "name", "version", "family", "created_at", "description", "task", "time_unit",
              "window", "horizon", "rul_cap", "features", "preprocessing", "members", "combine", "interval",
              "risk_calibration", "risk_threshold", "metrics", "parity", "export", "artifacts", "training", "versions",
              "drift_reference")


def _ordered(card: dict[str, Any]) -> dict[str, Any]:
    """The card's keys in reading order: what it is, what it reads, what it outputs, how good."""
    return {**{k: card[k] for k in CARD_ORDER if k in card}, **{k: v for k, v in card.items() if k not in CARD_ORDER}}
