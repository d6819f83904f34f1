"""Shaping data on its way into and out of a model, and checking it against the signature.

In: a DataFrame, a numpy array, a list of records (→ DataFrame), a dict of arrays. With a
column signature the result is a DataFrame holding the signature's columns, in order,
cast to their types (extra columns are dropped). With a tensor signature it is an array,
or a dict of arrays for named tensors. A missing column or tensor, a wrong shape, or a
type that cannot be cast without loss is :class:`ValidationFailed` naming the field.

Out: always a numpy array or a DataFrame.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

from shipyard.errors import InvalidArgument, ValidationFailed
from shipyard.models.signature import NUMERIC_TYPES, ColumnSpec, ModelSignature, ParamSpec, TensorSpec, values_type


def _is_frame(data: Any) -> bool:
    """Whether ``data`` is a DataFrame, without importing pandas (nothing is one unless it is imported)."""
    if "pandas" not in sys.modules:
        return False
    import pandas as pd  # waits if another thread is still importing it

    return isinstance(data, pd.DataFrame)


def normalise_input(data: Any) -> Any:
    import numpy as np

    if isinstance(data, np.ndarray):  # before importing pandas: a tensor model's server never needs it
        return data
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        return data.to_frame()
    if isinstance(data, Mapping):
        return dict(data)
    if isinstance(data, list | tuple):
        if not data:
            raise ValidationFailed("input is empty", {"field": "data"})
        if all(isinstance(row, Mapping) for row in data):
            return pd.DataFrame.from_records(list(data))
        try:
            return np.asarray(data)
        except ValueError as exc:
            raise ValidationFailed(f"input is not a rectangular array: {exc}", {"field": "data"}) from exc
    raise ValidationFailed(
        f"predict takes a DataFrame, a numpy array, a list of records or a dict of arrays, not {type(data).__name__}",
        {"field": "data"},
    )


def prepare_input(data: Any, signature: ModelSignature | None) -> Any:
    data = normalise_input(data)
    if signature is None:
        return data
    if signature.takes_columns:
        return _columns(data, [s for s in signature.inputs if isinstance(s, ColumnSpec)])
    return _tensors(data, [s for s in signature.inputs if isinstance(s, TensorSpec)])


def castable(actual: str, expected: str) -> bool:
    """Whether values of type ``actual`` may be converted to ``expected``.

    numpy's "safe" casts, plus two that ML inputs need: integers to any float, and float64
    to float32 (JSON numbers arrive as float64; many models compute in float32). Floats
    never become integers, and text never becomes numbers."""
    import numpy as np

    if expected in (actual, "object"):
        return True
    if actual in NUMERIC_TYPES and expected in NUMERIC_TYPES:
        if np.can_cast(np.dtype(actual), np.dtype(expected), casting="safe"):
            return True
        if (actual, expected) == ("float64", "float32"):
            return True
        return np.dtype(actual).kind in "biu" and np.dtype(expected).kind == "f"
    return False


def _cast(values: Any, actual: str, expected: str) -> Any:
    if actual == expected or expected not in NUMERIC_TYPES:
        return values
    return values.astype(expected)


def _columns(data: Any, specs: list[ColumnSpec]) -> Any:
    import numpy as np
    import pandas as pd

    names = [spec.name for spec in specs]
    if isinstance(data, np.ndarray):
        if data.ndim == 1 and len(specs) == 1:
            data = data.reshape(-1, 1)
        if data.ndim != 2 or data.shape[1] != len(specs):
            raise ValidationFailed(
                f"expected a table with columns {names}; got an array of shape {list(data.shape)}",
                {"field": "data", "expected_columns": names},
            )
        data = pd.DataFrame(data, columns=names)
    elif isinstance(data, dict):
        try:
            data = pd.DataFrame(data)
        except ValueError as exc:
            raise ValidationFailed(f"input dict is not a table: {exc}", {"field": "data"}) from exc
    frame = data.rename(columns=str)
    kept = []
    for spec in specs:
        if spec.name not in frame.columns:
            if spec.optional:
                continue
            raise ValidationFailed(f"input is missing column '{spec.name}'", {"field": spec.name, "problem": "missing"})
        column = frame[spec.name]
        actual = values_type(column)
        if not castable(actual, spec.type):
            raise ValidationFailed(
                f"column '{spec.name}' has type {actual}, which cannot be safely cast to {spec.type}",
                {"field": spec.name, "expected": spec.type, "actual": actual},
            )
        try:
            frame[spec.name] = _cast(column, actual, spec.type)
        except (ValueError, TypeError) as exc:  # e.g. missing values in an integer column
            raise ValidationFailed(
                f"column '{spec.name}' cannot be cast to {spec.type}: {exc}",
                {"field": spec.name, "expected": spec.type, "actual": actual},
            ) from exc
        kept.append(spec.name)
    return frame[kept]


def _tensor(values: Any, spec: TensorSpec) -> Any:
    import numpy as np

    label = f"tensor '{spec.name}'" if spec.name else "input"
    field = spec.name or "data"
    array = np.asarray(values)
    fits = array.ndim == len(spec.shape) and all(d in (-1, n) for d, n in zip(spec.shape, array.shape, strict=True))
    if not fits:
        raise ValidationFailed(
            f"{label} has shape {list(array.shape)}; expected {spec.shape} (-1: any size)",
            {"field": field, "expected_shape": spec.shape, "actual_shape": list(array.shape)},
        )
    actual = values_type(array)
    if not castable(actual, spec.type):
        raise ValidationFailed(
            f"{label} has type {actual}, which cannot be safely cast to {spec.type}",
            {"field": field, "expected": spec.type, "actual": actual},
        )
    return _cast(array, actual, spec.type)


def _tensors(data: Any, specs: list[TensorSpec]) -> Any:
    if len(specs) == 1 and not isinstance(data, dict):
        spec = specs[0]
        array = _tensor(data.to_numpy() if _is_frame(data) else data, spec)
        return {spec.name: array} if spec.name else array
    if _is_frame(data):
        data = {str(name): data[name].to_numpy() for name in data.columns}
    if not isinstance(data, dict):
        raise ValidationFailed(
            f"this model takes named tensors {[s.name for s in specs]}; pass a dict of arrays", {"field": "data"}
        )
    if len(specs) == 1 and specs[0].name is None and len(data) == 1:
        return _tensor(next(iter(data.values())), specs[0])
    prepared = {}
    for spec in specs:
        if spec.name not in data:
            if spec.optional:
                continue
            raise ValidationFailed(f"input is missing tensor '{spec.name}'", {"field": spec.name, "problem": "missing"})
        prepared[spec.name] = _tensor(data[spec.name], spec)
    return prepared


def prepare_params(params: Mapping[str, Any] | None, specs: Sequence[ParamSpec] | None) -> dict[str, Any] | None:
    """Params with the signature's defaults filled in; unknown names are refused."""
    if specs is None:
        return dict(params) if params else None
    given = dict(params or {})
    known = {spec.name for spec in specs}
    if unknown := sorted(given.keys() - known):
        raise InvalidArgument(
            f"unknown param '{unknown[0]}'; this model takes {sorted(known)}", {"field": "params", "unknown": unknown}
        )
    return {spec.name: given.get(spec.name, spec.default) for spec in specs}


def normalise_output(output: Any) -> Any:
    """A numpy array or a DataFrame, whatever the model returned."""
    import numpy as np

    if isinstance(output, np.ndarray) or _is_frame(output):
        return output
    import pandas as pd

    if isinstance(output, pd.Series):
        return output.to_numpy()
    if isinstance(output, Mapping):
        columns = {}
        for name, value in output.items():
            array = np.asarray(value) if not isinstance(value, list) else value
            columns[str(name)] = list(array) if isinstance(array, np.ndarray) and array.ndim > 1 else array
        return pd.DataFrame(columns)
    return np.asarray(output)
