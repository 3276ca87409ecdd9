"""A training distribution in 101 numbers: its percentiles.

Why percentiles: they fit in a model card (a few KB for dozens of sensors), they give the
reference CDF to within 1 %, which is all KS and PSI need, and they carry nothing of the
training data that a plant would mind shipping to the line with the model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

PERCENTILES = np.linspace(0, 100, 101)


def summarize(values: Any) -> dict[str, Any] | None:
    """``{"n", "quantiles"}`` of the finite values, or None when there are fewer than 20."""
    array = np.asarray(values, dtype=np.float64).ravel()
    array = array[np.isfinite(array)]
    if len(array) < 20:
        return None
    return {"n": int(len(array)), "quantiles": [float(q) for q in np.percentile(array, PERCENTILES)]}


def summarize_columns(frame, columns: list[str]) -> dict[str, dict[str, Any]]:  # noqa: ANN001 - a DataFrame
    """A summary for each column of ``frame`` that has enough values."""
    out = {}
    for column in columns:
        if column in frame.columns:
            summary = summarize(frame[column].to_numpy(dtype=np.float64, na_value=np.nan))
            if summary is not None:
                out[column] = summary
    return out
