"""Export to ONNX and prove the export right: the ``export`` half of the vision contract.

Why a parity check: an exported graph can differ from the trained network (an unsupported
op, a wrong dynamic axis, a fusion gone wrong), and the difference shows up only as wrong
verdicts on the line. Every export is therefore compared, image by image, with torch on the
test split; it fails loudly beyond 1e-4 in any probability or on any changed class.
"""

from __future__ import annotations

import copy
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from factory_ai.errors import ModelError
from factory_ai.vision.train.fit import TrainedClassifier
from factory_ai.vision.train.network import fuse_conv_bn

log = logging.getLogger(__name__)

INPUT, PROBS, HEATMAP = "pixels", "probabilities", "heatmap"
PARITY_TOLERANCE = 1e-4


def export_onnx(trained: TrainedClassifier, path: Path) -> dict[str, Any]:
    """Write one self-contained ONNX file with a dynamic batch; return export facts."""
    network = fuse_conv_bn(copy.deepcopy(trained.network).cpu().eval())
    example = torch.zeros(2, trained.channels, trained.height, trained.width, dtype=torch.uint8)
    batch = torch.export.Dim("batch", min=1, max=4096)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The exporter is chatty (and warns that torchvision is absent, which it does not need).
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            network,
            (example,),
            str(path),
            input_names=[INPUT],
            output_names=[PROBS, HEATMAP],
            dynamic_shapes=({0: batch},),
            external_data=False,
            dynamo=True,
            verbose=False,
        )
    stray = path.with_name(path.name + ".data")
    if stray.exists():
        raise ModelError(f"export wrote external weights ({stray.name}); the model must be one file")
    opset = getattr(program, "model", None)
    opset_version = None
    if opset is not None:
        opset_version = next((v for d, v in opset.opset_imports.items() if d in ("", "ai.onnx")), None)
    return {"opset": opset_version, "exporter": "torch.onnx (dynamo)", "fused_conv_bn": True}


def check_parity(trained: TrainedClassifier, onnx_path: Path, pixels: np.ndarray, batch: int = 64) -> dict[str, Any]:
    """Compare torch and onnxruntime on ``pixels``; raise :class:`ModelError` on any mismatch."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    network = trained.network.cpu().eval()
    worst, worst_heat, disagreements = 0.0, 0.0, 0
    with torch.inference_mode():
        for i in range(0, len(pixels), batch):
            chunk = pixels[i : i + batch]
            ref_probs, ref_heat = network(torch.from_numpy(chunk))
            ort_probs, ort_heat = session.run([PROBS, HEATMAP], {INPUT: chunk})
            ref = ref_probs.numpy()
            worst = max(worst, float(np.abs(ref - ort_probs).max()))
            worst_heat = max(worst_heat, float(np.abs(ref_heat.numpy() - ort_heat).max()))
            disagreements += int((ref.argmax(1) != ort_probs.argmax(1)).sum())
    # The heatmap is for people to look at; its difference is recorded, the gate is on probabilities.
    result = {"images": int(len(pixels)), "max_abs_diff": worst, "argmax_disagreements": disagreements,
              "tolerance": PARITY_TOLERANCE, "heatmap_max_abs_diff": worst_heat}
    if worst > PARITY_TOLERANCE or disagreements:
        raise ModelError(
            f"ONNX parity check failed on {len(pixels)} images: max |Δprob| {worst:.2e} "
            f"(limit {PARITY_TOLERANCE:.0e}), {disagreements} changed classes; the export is not trustworthy"
        )
    return result
