"""The gradient-boosting baseline: scikit-learn on window summaries, exported with skl2onnx.

Why keep it beside the network: on a few hundred run-to-failure histories, boosted trees on
simple window statistics are hard to beat, train in seconds, and fail differently from a
network, so averaging the two is usually better than either (the benchmark shows it).

Each fold trains a regressor for the capped RUL and, where both outcomes occur, a classifier
for failure within the horizon. The ONNX export puts every fold in one graph that returns the
mean over folds. ONNX trees compare in float32; the features are float32 too, and every split
threshold is rounded *down* to a float32 before export (:func:`_snap_thresholds`), which
changes no prediction on float32 inputs and makes onnxruntime agree with scikit-learn exactly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper

RUL, RISK, FEATURES = "rul", "risk", "features"
IR_VERSION = 8


@dataclass
class GBMConfig:
    max_iter: int = 500
    learning_rate: float = 0.05
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 20
    seed: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class GBMFold:
    regressor: object | None
    classifier: object | None


def fit(features: np.ndarray, rul: np.ndarray, risk: np.ndarray, config: GBMConfig, seed: int) -> GBMFold:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    common = {"max_iter": config.max_iter, "learning_rate": config.learning_rate, "max_leaf_nodes": config.max_leaf_nodes,
              "min_samples_leaf": config.min_samples_leaf, "early_stopping": True, "validation_fraction": 0.1,
              "n_iter_no_change": 20, "random_state": seed}
    x = features.astype(np.float32)
    known = np.isfinite(rul)
    regressor = HistGradientBoostingRegressor(**common).fit(x[known], rul[known]) if known.sum() > 20 else None
    labelled = risk >= 0
    classes = np.unique(risk[labelled])
    classifier = None
    if len(classes) == 2 and labelled.sum() > 20:
        classifier = HistGradientBoostingClassifier(**common, class_weight="balanced").fit(x[labelled], risk[labelled])
    for model in (regressor, classifier):
        if model is not None:
            _snap_thresholds(model)
    return GBMFold(regressor, classifier)


def _snap_thresholds(model: object) -> None:
    """Round every split threshold down to the nearest float32. For a float32 input ``x``,
    ``x <= t`` holds exactly when ``x <= t32`` does, so predictions do not change, and the
    float32 trees in ONNX then split exactly where scikit-learn does. (``_predictors`` is
    scikit-learn's fitted tree list; the parity check at export proves the result.)"""
    for per_iteration in model._predictors:  # noqa: SLF001
        for predictor in per_iteration:
            nodes = predictor.nodes
            t = nodes["num_threshold"]
            t32 = t.astype(np.float32)
            above = t32.astype(np.float64) > t
            t32[above] = np.nextafter(t32[above], np.float32(-np.inf))
            nodes["num_threshold"] = t32.astype(np.float64)


def predict(folds: list[GBMFold], features: np.ndarray) -> dict[str, np.ndarray]:
    x = features.astype(np.float32)
    out = {}
    regs = [f.regressor for f in folds if f.regressor is not None]
    if regs:
        out[RUL] = np.mean([r.predict(x) for r in regs], axis=0)
    clfs = [f.classifier for f in folds if f.classifier is not None]
    if clfs:
        out[RISK] = np.mean([c.predict_proba(x)[:, 1] for c in clfs], axis=0)
    return out


@contextlib.contextmanager
def _int_attributes() -> Iterator[None]:
    """skl2onnx 1.20 writes Python ``False`` among numpy ints for tree leaves
    (``nodes_missing_value_tracks_true``); protobuf 7 refuses booleans in int fields.
    Coerce them while converting, and nothing else."""
    from skl2onnx.common import _container

    original = _container.make_node

    def make_node(*args, **attrs):  # noqa: ANN002, ANN003, ANN202
        for key, value in attrs.items():
            if isinstance(value, list) and any(isinstance(v, bool | np.bool_) for v in value):
                attrs[key] = [int(v) for v in value]
        return original(*args, **attrs)

    _container.make_node = make_node
    try:
        yield
    finally:
        _container.make_node = original


def to_onnx(folds: list[GBMFold], n_features: int) -> onnx.ModelProto:
    """One graph: input ``features`` [N, F] float32; outputs ``rul`` and/or ``risk`` [N] (double),
    the means over folds."""
    from skl2onnx import to_onnx as skl_to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    opsets = {"": 17, "ai.onnx.ml": 3}
    parts: dict[str, list[str]] = {RUL: [], RISK: []}
    nodes, initializers = [], []
    for k, fold in enumerate(folds):
        for kind, model in ((RUL, fold.regressor), (RISK, fold.classifier)):
            if model is None:
                continue
            options = {id(model): {"zipmap": False}} if kind == RISK else None
            with _int_attributes():
                sub = skl_to_onnx(model, initial_types=[(FEATURES, FloatTensorType([None, n_features]))],
                                  target_opset=opsets, options=options)
            sub = onnx.compose.add_prefix(sub, f"{kind}{k}_", rename_inputs=False)
            nodes.extend(sub.graph.node)
            initializers.extend(sub.graph.initializer)
            outputs = [o.name for o in sub.graph.output]
            if kind == RUL:
                flat = f"{kind}{k}_flat"
                nodes.append(helper.make_node("Reshape", [outputs[0], f"{kind}{k}_shape"], [flat + "_raw"]))
                nodes.append(helper.make_node("Cast", [flat + "_raw"], [flat], to=TensorProto.DOUBLE))
                initializers.append(helper.make_tensor(f"{kind}{k}_shape", TensorProto.INT64, [1], [-1]))
                parts[kind].append(flat)
            else:
                probs = next(o for o in outputs if "prob" in o)
                col = f"{kind}{k}_p1"
                nodes.append(helper.make_node("Gather", [probs, f"{kind}{k}_one"], [col + "_raw"], axis=1))
                nodes.append(helper.make_node("Cast", [col + "_raw"], [col], to=TensorProto.DOUBLE))
                initializers.append(helper.make_tensor(f"{kind}{k}_one", TensorProto.INT64, [], [1]))
                parts[kind].append(col)
    outputs = []
    for kind, names in parts.items():
        if not names:
            continue
        # Sum then scale: onnxruntime's CPU Mean has no double kernel.
        nodes.append(helper.make_node("Sum", names, [kind + "_sum"]))
        initializers.append(helper.make_tensor(kind + "_scale", TensorProto.DOUBLE, [], [1.0 / len(names)]))
        nodes.append(helper.make_node("Mul", [kind + "_sum", kind + "_scale"], [kind]))
        outputs.append(helper.make_tensor_value_info(kind, TensorProto.DOUBLE, [None]))
    graph = helper.make_graph(nodes, "gbm_folds", [helper.make_tensor_value_info(FEATURES, TensorProto.FLOAT,
                                                                                 [None, n_features])],
                              outputs, initializers)
    # IR version 8 (the one opset 17 came with), not the newest this onnx package knows:
    # line-side machines run older onnxruntime builds that refuse newer IR versions.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets.items()],
                              producer_name="factory-ai", ir_version=IR_VERSION)
    onnx.checker.check_model(model)
    return model
