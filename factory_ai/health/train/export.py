"""Export of the health members to ONNX, each proven against torch before it ships.

One file per member (``pca.onnx``, ``autoencoder.onnx``): input ``windows`` [N, W, C] float32,
outputs ``score`` [N] and ``contribution`` [N, C]. Parity is checked on held-out windows: a
difference above 1e-4 relative to the score (or a sensor share) stops the export.
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
from factory_ai.health.model import CONTRIBUTION, INPUT, SCORE
from factory_ai.health.train.members import member_outputs

TOLERANCE = 1e-4


def export_member(member: nn.Module, window: int, channels: int, path: Path) -> dict[str, Any]:
    member = member.cpu().eval()
    example = torch.zeros(2, window, channels)
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(member, (example,), str(path), input_names=[INPUT], output_names=[SCORE, CONTRIBUTION],
                          dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=10_000_000)},),
                          external_data=False, dynamo=True, verbose=False)
    if path.with_name(path.name + ".data").exists():
        raise ModelError(f"export wrote external weights for {path.name}; the model must be one file")
    return {"exporter": "torch.onnx (dynamo)"}


def check_member(member: nn.Module, path: Path, windows: np.ndarray) -> dict[str, Any]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ref = member_outputs(member, windows)
    got_score, got_part = [], []
    for i in range(0, len(windows), 4096):
        s, p = session.run([SCORE, CONTRIBUTION], {INPUT: np.ascontiguousarray(windows[i:i + 4096], np.float32)})
        got_score.append(s)
        got_part.append(p)
    if not len(windows):
        return {"windows": 0}
    score, part = np.concatenate(got_score), np.concatenate(got_part)
    scale = np.maximum(np.abs(ref[SCORE]), 1.0)
    score_diff = float((np.abs(score - ref[SCORE]) / scale).max())
    part_diff = float((np.abs(part - ref[CONTRIBUTION]) / scale[:, None]).max())
    result = {"windows": int(len(windows)), "max_relative_score_diff": score_diff,
              "max_relative_contribution_diff": part_diff, "tolerance": TOLERANCE}
    if score_diff > TOLERANCE or part_diff > TOLERANCE:
        raise ModelError(f"ONNX parity check failed for {path.name} on {len(windows)} windows: max relative "
                         f"|Δscore| {score_diff:.3g}, |Δcontribution| {part_diff:.3g} (limit {TOLERANCE})")
    return result
