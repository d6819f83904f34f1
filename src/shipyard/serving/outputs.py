"""Model outputs: split a batch's output back per request, and name the parts.

A model returns a numpy array or a DataFrame (``LoadedModel.predict`` guarantees it).
An array is one output; a DataFrame is one output per column, where a column holding a
vector per row (an ONNX classifier's ``probabilities``) becomes a 2-D array.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

PREDICTIONS = "predictions"
PROBABILITIES = "probabilities"
METHODS = ("predict", "predict_proba")
Array = np.ndarray[Any, Any]


def split(output: Any, sizes: Sequence[int]) -> list[Any] | None:
    """``output`` cut into consecutive pieces of ``sizes`` rows, or None if its rows do not
    line up with the inputs (then each request must run on its own)."""
    if len(sizes) == 1:
        return [output]
    total = sum(sizes)
    try:
        rows = len(output)
    except TypeError:  # a 0-d array
        return None
    if rows != total:
        return None
    bounds = [0, *itertools.accumulate(sizes)]
    if isinstance(output, np.ndarray):  # views, as np.split gives, at a fifth of its cost
        return [output[start:end] for start, end in itertools.pairwise(bounds)]
    return [output.iloc[start:end].reset_index(drop=True) for start, end in itertools.pairwise(bounds)]


def _stacked(values: Array) -> Array:
    if values.dtype.kind == "O" and len(values) and isinstance(values[0], np.ndarray | list):
        try:
            return np.stack([np.asarray(v) for v in values])
        except ValueError:
            return values
    return values


def named_outputs(output: Any, default_name: str) -> list[tuple[str, Array]]:
    """``(name, array)`` per output: one for an array, one per column for a DataFrame."""
    if isinstance(output, np.ndarray):
        return [(default_name, output)]
    return [(str(name), _stacked(output[name].to_numpy())) for name in output.columns]


def plain(output: Any) -> Any:
    """What ``predictions`` holds in V1 and MLflow replies: a (nested) list for an array,
    a list of row objects for a DataFrame (MLflow's ``records`` orient)."""
    if isinstance(output, np.ndarray):
        return output
    names = [str(c) for c in output.columns]
    columns = [output[c].to_numpy() for c in output.columns]
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


__all__ = ["METHODS", "PREDICTIONS", "PROBABILITIES", "named_outputs", "plain", "split"]
