"""onnxruntime sessions for the line side: provider choice, thread counts, verified loading.

Why this module exists: onnxruntime silently falls back to the CPU when the CUDA provider
cannot load, and on small machines its default thread pools fight each other. Every model on
the line side is therefore loaded here, which sets threads explicitly, checks the artifact's
sha256 against its card, and reports the provider that *actually* runs (``provider``), so the
store records what really judged each part.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import numpy as np

from factory_ai.errors import ModelError
from factory_ai.registry import read_card, verified_artifact

log = logging.getLogger(__name__)

Device = Literal["auto", "cpu", "cuda"]
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


def cpu_threads() -> int:
    """Cores this process may use (respects container and taskset limits)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def check_installation() -> list[str]:
    """Problems with the onnxruntime installation that would otherwise go unnoticed."""
    installed = set()
    for dist in ("onnxruntime", "onnxruntime-gpu"):
        try:
            metadata.version(dist)
            installed.add(dist)
        except metadata.PackageNotFoundError:
            pass
    if len(installed) == 2:
        return [
            "both onnxruntime and onnxruntime-gpu are installed; they overwrite each other's files. "
            "Keep one: pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-gpu"
        ]
    return []


def _providers(device: Device) -> list[str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device == "cpu":
        return [CPU]
    if CUDA in available:
        return [CUDA, CPU]
    if device == "cuda":
        raise ModelError(
            "device cuda asked for, but this onnxruntime has no CUDA provider "
            f"(available: {', '.join(available)}); install onnxruntime-gpu (make install-gpu)"
        )
    return [CPU]


@dataclass
class OnnxModel:
    """One verified ONNX artifact with its card and a ready session."""

    path: Path
    artifact: str
    card: dict[str, Any]
    session: Any  # onnxruntime.InferenceSession
    provider: str
    threads: int

    @property
    def name(self) -> str:
        return str(self.card.get("name", self.path.parent.name))

    @property
    def version(self) -> str:
        return str(self.card.get("version", self.path.name))

    @property
    def input_names(self) -> list[str]:
        return [i.name for i in self.session.get_inputs()]

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = [o.name for o in self.session.get_outputs()]
        return dict(zip(names, self.session.run(names, feeds), strict=True))


def load_model(
    model_dir: Path,
    artifact: str = "model.onnx",
    *,
    device: Device = "auto",
    threads: int = 0,
) -> OnnxModel:
    """Verify and open ``model_dir/artifact``; raise :class:`ModelError` with a one-line reason."""
    import onnxruntime as ort

    for problem in check_installation():
        log.warning(problem)
    card = read_card(model_dir)
    path = verified_artifact(model_dir, card, artifact)
    wanted = _providers(device)
    n_threads = threads or cpu_threads()
    options = ort.SessionOptions()
    options.intra_op_num_threads = n_threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=wanted)
    except Exception as exc:  # onnxruntime raises its own exception types for bad graphs
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{path}: onnxruntime cannot load the model ({first})") from None
    active = session.get_providers()
    provider = active[0] if active else CPU
    if wanted[0] == CUDA and provider != CUDA:
        log.warning("CUDA provider did not load (CUDA/cuDNN libraries?); running on %s", provider)
        if device == "cuda":
            raise ModelError(f"device cuda asked for, but onnxruntime fell back to {provider}")
    log.debug("loaded %s with %s, %d threads", path, provider, n_threads)
    return OnnxModel(path=Path(model_dir), artifact=artifact, card=card, session=session, provider=provider, threads=n_threads)
