"""Failure forecasting: remaining useful life and failure risk from sensor history.

Line side (numpy + onnxruntime): ``history`` (one shape for every source), ``readers``,
``targets``, ``features`` (the fitted pre-processing), ``model`` (load + predict), ``predict``
(the latest window of every asset, with a reason for each asset that has none) and
``metrics``. Training (torch, scikit-learn, skl2onnx) lives in :mod:`factory_ai.forecast.train`.
"""
