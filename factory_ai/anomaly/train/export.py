"""Export the anomaly network to one ONNX file and prove it right (score and map).

Why both: the score decides the verdict, the map is what a person looks at to accept or
overrule it. Either can break in export (an unsupported op, a wrong interpolation), so both
are compared with torch on the held-out and test images, and the export fails loudly beyond
the tolerances.
"""

from __future__ import annotations

import copy
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from factory_ai.anomaly.train.fit import TrainedDetector
from factory_ai.errors import ModelError
from factory_ai.vision.train.network import fuse_conv_bn

INPUT, SCORE, MAP = "pixels", "score", "anomaly_map"
SCORE_TOLERANCE, MAP_TOLERANCE = 1e-4, 1e-3


def export_onnx(trained: TrainedDetector, path: Path) -> dict[str, Any]:
    network = fuse_conv_bn(copy.deepcopy(trained.network).cpu().eval())
    example = torch.zeros(2, trained.channels, trained.height, trained.width, dtype=torch.uint8)
    batch = torch.export.Dim("batch", min=1, max=4096)
    path.parent.mkdir(parents=True, exist_ok=True)
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(network, (example,), str(path), input_names=[INPUT], output_names=[SCORE, MAP],
                                    dynamic_shapes=({0: batch},), external_data=False, dynamo=True, verbose=False)
    if path.with_name(path.name + ".data").exists():
        raise ModelError("export wrote external weights; the model must be one file")
    model = getattr(program, "model", None)
    opset = None if model is None else next((v for d, v in model.opset_imports.items() if d in ("", "ai.onnx")), None)
    return {"opset": opset, "exporter": "torch.onnx (dynamo)", "fused_conv_bn": True}


def check_parity(trained: TrainedDetector, onnx_path: Path, pixels: np.ndarray, batch: int = 32) -> dict[str, Any]:
    """Compare torch and onnxruntime on ``pixels``; raise :class:`ModelError` on any mismatch."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    network = trained.network.cpu().eval()
    worst_score, worst_map = 0.0, 0.0
    with torch.inference_mode():
        for i in range(0, len(pixels), batch):
            chunk = pixels[i:i + batch]
            ref_score, ref_map = network(torch.from_numpy(chunk))
            score, amap = session.run([SCORE, MAP], {INPUT: chunk})
            worst_score = max(worst_score, float(np.abs(ref_score.numpy() - score).max()))
            worst_map = max(worst_map, float(np.abs(ref_map.numpy() - amap).max()))
    result = {"images": int(len(pixels)), "max_abs_diff": worst_score, "map_max_abs_diff": worst_map,
              "tolerance": SCORE_TOLERANCE, "map_tolerance": MAP_TOLERANCE}
    if worst_score > SCORE_TOLERANCE or worst_map > MAP_TOLERANCE:
        raise ModelError(f"ONNX parity check failed on {len(pixels)} images: max |Δscore| {worst_score:.2e} (limit "
                         f"{SCORE_TOLERANCE:.0e}), max |Δmap| {worst_map:.2e} (limit {MAP_TOLERANCE:.0e}); the export "
                         "is not trustworthy")
    return result
