"""Static int8 quantisation with calibration images, for faster line-side CPUs.

Why static: for CNNs, dynamic quantisation only quantises weights and leaves convolutions in
float, so it gains nothing; static quantisation calibrates activation ranges on real images
and runs the convolutions in int8. The QDQ format keeps the graph readable and portable.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


class _Calibration:
    """Feeds calibration batches to onnxruntime's calibrator (its CalibrationDataReader API)."""

    def __init__(self, input_name: str, pixels: np.ndarray, batch: int = 16) -> None:
        self._batches = iter([{input_name: pixels[i : i + batch]} for i in range(0, len(pixels), batch)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)

    def rewind(self) -> None:  # pragma: no cover - single-pass calibration
        pass


def quantize_int8(fp32_path: Path, int8_path: Path, input_name: str, calibration: np.ndarray) -> dict[str, object]:
    """Write a static-int8 copy of ``fp32_path`` calibrated on ``calibration`` pixels."""
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(int8_path),
            _Calibration(input_name, calibration),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            op_types_to_quantize=["Conv", "Add", "MatMul", "Gemm", "GlobalAveragePool"],
            # 7-bit weights: without VNNI, x86 u8s8 kernels sum pairs of products in int16 and can
            # saturate; measured here it cost 6 points of NEU accuracy, reduce_range costs none.
            reduce_range=True,
            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
        )
    return {"format": "QDQ", "activations": "uint8", "weights": "int8 per channel, 7-bit range",
            "calibration_images": int(len(calibration)), "method": "MinMax"}
