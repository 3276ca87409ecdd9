"""Export of the forecast members to ONNX, each proven against its training framework.

- ``network.onnx``: the fold networks in one graph. Input ``windows`` [N, W, C] float32;
  outputs ``quantiles`` [N, 3] (fractions of the RUL cap) and ``risk_logit`` [N], fold means.
- ``gbm.onnx``: the fold boosters (see ``gbm.to_onnx``). Input ``features`` [N, F]; outputs
  ``rul`` and ``risk``.

Parity is checked on the validation windows: a mismatch beyond a hundredth of a cycle (RUL) or
1e-4 (risk) stops the export.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from factory_ai.errors import ModelError
from factory_ai.forecast.train import gbm as gbm_module
from factory_ai.forecast.train.fit import predict as torch_predict

WINDOWS, QUANTILES, RISK_LOGIT = "windows", "quantiles", "risk_logit"
RUL_TOLERANCE_CYCLES = 0.01
RISK_TOLERANCE = 1e-4


class FoldEnsemble(nn.Module):
    """The networks of all folds, averaged: one graph, one call on the line side."""

    def __init__(self, networks: list[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(networks)

    def forward(self, windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outputs = [member(windows) for member in self.members]
        quantiles = torch.stack([o[0] for o in outputs]).mean(dim=0)
        logit = torch.stack([o[1] for o in outputs]).mean(dim=0)
        return quantiles, logit


def export_network(ensemble: FoldEnsemble, window: int, channels: int, path: Path) -> dict[str, Any]:
    ensemble = ensemble.cpu().eval()
    example = torch.zeros(2, window, channels)
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(ensemble, (example,), str(path), input_names=[WINDOWS], output_names=[QUANTILES, RISK_LOGIT],
                          dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=1_000_000)},),
                          external_data=False, dynamo=True, verbose=False)
    if path.with_name(path.name + ".data").exists():
        raise ModelError(f"export wrote external weights for {path.name}; the model must be one file")
    return {"exporter": "torch.onnx (dynamo)", "members": len(ensemble.members)}


def check_network(ensemble: FoldEnsemble, path: Path, windows: np.ndarray, cap: float) -> dict[str, Any]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ref_q, ref_logit = torch_predict(ensemble, windows)
    got_q, got_logit = [], []
    for i in range(0, len(windows), 4096):
        q, logit = session.run([QUANTILES, RISK_LOGIT], {WINDOWS: windows[i : i + 4096]})
        got_q.append(q)
        got_logit.append(logit)
    rul_diff = float(np.abs(np.concatenate(got_q) - ref_q).max() * cap) if len(windows) else 0.0
    risk_diff = float(np.abs(_sigmoid(np.concatenate(got_logit)) - _sigmoid(ref_logit)).max()) if len(windows) else 0.0
    return _verdict("network.onnx", len(windows), rul_diff, risk_diff)


def export_gbm(folds: list[gbm_module.GBMFold], n_features: int, path: Path) -> dict[str, Any]:
    import onnx

    model = gbm_module.to_onnx(folds, n_features)
    onnx.save(model, str(path))
    return {"exporter": "skl2onnx", "members": len(folds), "outputs": [o.name for o in model.graph.output]}


def check_gbm(folds: list[gbm_module.GBMFold], path: Path, features: np.ndarray) -> dict[str, Any]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    got = dict(zip(names, session.run(names, {gbm_module.FEATURES: features.astype(np.float32)}), strict=True))
    ref = gbm_module.predict(folds, features)
    rul_diff = float(np.abs(got[gbm_module.RUL] - ref[gbm_module.RUL]).max()) if gbm_module.RUL in ref else 0.0
    risk_diff = float(np.abs(got[gbm_module.RISK] - ref[gbm_module.RISK]).max()) if gbm_module.RISK in ref else 0.0
    return _verdict("gbm.onnx", len(features), rul_diff, risk_diff)


def _verdict(name: str, n: int, rul_diff: float, risk_diff: float) -> dict[str, Any]:
    result = {"rows": int(n), "max_rul_diff_cycles": rul_diff, "max_risk_diff": risk_diff,
              "tolerance": {"rul_cycles": RUL_TOLERANCE_CYCLES, "risk": RISK_TOLERANCE}}
    if rul_diff > RUL_TOLERANCE_CYCLES or risk_diff > RISK_TOLERANCE:
        raise ModelError(f"ONNX parity check failed for {name} on {n} windows: max |ΔRUL| {rul_diff:.3g} "
                         f"(limit {RUL_TOLERANCE_CYCLES}), max |Δrisk| {risk_diff:.3g} (limit {RISK_TOLERANCE})")
    return result


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))
