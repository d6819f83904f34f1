"""Slices of an evaluation set: one per distinct value of each slicing column (``"region:EU"``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from shipyard.evaluation.errors import EvaluationInputError

MAX_SLICE_VALUES = 100  # distinct values per slicing column


def slice_key(column: str, value: Any) -> str:
    return f"{column}:{value}"


def slice_masks(frame: Any, columns: Sequence[str]) -> dict[str, NDArray[np.bool_]]:
    """Row masks keyed ``"column:value"``, in column order then sorted value order. Missing
    values form no slice."""
    masks: dict[str, NDArray[np.bool_]] = {}
    for column in columns:
        if column not in frame.columns:
            raise EvaluationInputError(
                f"slice column '{column}' is not a column of the data (columns: {', '.join(map(str, frame.columns))})",
                field="slices",
            )
        values = frame[column]
        distinct = sorted(values.dropna().unique().tolist(), key=str)
        if len(distinct) > MAX_SLICE_VALUES:
            raise EvaluationInputError(
                f"slice column '{column}' has {len(distinct)} distinct values; at most {MAX_SLICE_VALUES} "
                "make slices (bucket it first)",
                field="slices",
            )
        for value in distinct:
            masks[slice_key(column, value)] = (values == value).to_numpy(dtype=bool)
    return masks


__all__ = ["MAX_SLICE_VALUES", "slice_key", "slice_masks"]
