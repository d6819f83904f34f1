"""JSON values to numpy arrays and back: the V2 datatypes, and columns built from rows.

Decoding is strict about kinds, lenient about widths: an ``INT8`` input must hold
integers that fit in an int8, an ``FP32`` input may hold any JSON numbers, ``BOOL`` only
``true``/``false`` and ``BYTES`` only strings (UTF-8 text). Anything else is a
:class:`ValidationFailed` naming the input.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from shipyard.errors import ValidationFailed

V2_TO_NUMPY: dict[str, str] = {
    "BOOL": "bool",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
    "BYTES": "object",
}
_NUMPY_TO_V2 = {v: k for k, v in V2_TO_NUMPY.items() if k != "BYTES"}
# Signature value types (shipyard.models.signature.ValueType) to V2 datatypes.
VALUE_TYPE_TO_V2 = {**_NUMPY_TO_V2, "string": "BYTES", "bytes": "BYTES", "datetime": "BYTES", "object": "BYTES"}
_MAX_DEPTH = 32


_DTYPE_TO_V2 = {np.dtype(name): v2 for name, v2 in _NUMPY_TO_V2.items()}  # per request: no slow dtype.name


def v2_datatype(dtype: np.dtype[Any]) -> str:
    return _DTYPE_TO_V2.get(dtype) or _NUMPY_TO_V2.get(dtype.name, "BYTES")


def _flatten_strings(data: Any, name: str, depth: int = 0) -> list[Any]:
    if isinstance(data, str):
        return [data]
    if isinstance(data, list) and depth < _MAX_DEPTH:
        flat: list[Any] = []
        for item in data:
            flat.extend(_flatten_strings(item, name, depth + 1))
        return flat
    raise ValidationFailed(
        f"input '{name}' has datatype BYTES, so its data must be strings; found {type(data).__name__}",
        {"field": name, "expected": "BYTES"},
    )


# The numeric datatypes' numpy dtypes, with their kinds (per request: no attribute lookups).
_NUMERIC_DTYPES: dict[str, tuple[np.dtype[Any], str]] = {
    v2: (np.dtype(name), np.dtype(name).kind) for v2, name in V2_TO_NUMPY.items() if v2 != "BYTES"
}


def _numbers(name: str, datatype: str, data: Any) -> np.ndarray[Any, Any]:
    try:
        array = np.asarray(data)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValidationFailed(
            f"input '{name}': data is not a rectangular array of numbers ({exc})", {"field": name}
        ) from exc
    target, target_kind = _NUMERIC_DTYPES[datatype]
    kind: str = array.dtype.kind
    if kind == "f" and target_kind == "f":  # JSON numbers for a float tensor: the common case
        return array.astype(target, copy=False)
    if target_kind in "iu" and kind in "fO" and _all_ints(data):
        # integers beyond int64 (UINT64's upper half) make numpy guess float or object
        try:
            array, kind = np.array(data, dtype=target), target_kind
        except (OverflowError, ValueError) as exc:
            raise ValidationFailed(
                f"input '{name}': a value is out of range for {datatype} ({exc})", {"field": name, "expected": datatype}
            ) from None
    if array.size == 0:
        return array.astype(target)
    if target_kind == "b":
        ok = kind == "b"
    elif target_kind in "iu":
        ok = kind in "iu"
    else:
        ok = kind in "iuf"
    if not ok:
        wanted = {"b": "true/false values", "i": "integers", "u": "integers"}.get(target_kind, "numbers")
        raise ValidationFailed(
            f"input '{name}' has datatype {datatype}, so its data must be {wanted}; found {_describe(array)}",
            {"field": name, "expected": datatype},
        )
    if target_kind in "iu" and array.dtype != target:
        info = np.iinfo(target)
        low, high = array.min(), array.max()
        if low < info.min or high > info.max:
            raise ValidationFailed(
                f"input '{name}': value {low if low < info.min else high} is out of range for {datatype}",
                {"field": name, "expected": datatype},
            )
    return array.astype(target, copy=False)


def _all_ints(data: Any, depth: int = 0) -> bool:
    if isinstance(data, list) and depth < _MAX_DEPTH:
        return all(_all_ints(item, depth + 1) for item in data)
    return isinstance(data, int) and not isinstance(data, bool)


def _describe(array: np.ndarray[Any, Any]) -> str:
    kind = array.dtype.kind
    return {
        "b": "booleans",
        "i": "integers",
        "u": "integers",
        "f": "non-integer numbers",
        "U": "strings",
        "S": "strings",
    }.get(kind, "mixed values or nulls")


def decode_tensor(name: str, datatype: Any, shape: Any, data: Any) -> np.ndarray[Any, Any]:
    """One V2 input tensor as an array of ``shape``; ``data`` may be nested or flat."""
    if not isinstance(datatype, str) or datatype not in V2_TO_NUMPY:
        raise ValidationFailed(
            f"input '{name}': unknown datatype {datatype!r}; expected one of {', '.join(V2_TO_NUMPY)}",
            {"field": name, "expected": sorted(V2_TO_NUMPY)},
        )
    if (
        not isinstance(shape, list)
        or len(shape) > _MAX_DEPTH
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        raise ValidationFailed(
            f"input '{name}': shape must be a list of non-negative integers, not {shape!r}",
            {"field": name, "expected": "shape"},
        )
    if datatype == "BYTES":
        flat = _flatten_strings(data, name)
        array: np.ndarray[Any, Any] = np.empty(len(flat), dtype=object)
        array[:] = flat
    else:
        array = _numbers(name, datatype, data)
    needed = math.prod(shape)
    if array.size != needed:
        raise ValidationFailed(
            f"input '{name}': shape {shape} needs {needed} values but data has {array.size}",
            {"field": name, "expected_size": needed, "actual_size": int(array.size)},
        )
    return array.reshape(shape)


def value_array(values: Any, field: str) -> np.ndarray[Any, Any]:
    """An array from a JSON list (a column, or rows of a tensor).

    Nulls among numbers become NaN (float64); mixed or ragged values stay ``object``
    and are judged against the signature later."""
    if not isinstance(values, list):
        values = [values]
    try:
        array = np.asarray(values)
    except (ValueError, TypeError, OverflowError):  # ragged nesting, huge ints
        array = np.empty(len(values), dtype=object)
        array[:] = values
        return array
    if array.dtype.kind == "O" and array.ndim == 1:
        numbers = [v for v in values if v is not None]
        if numbers and all(isinstance(v, int | float) and not isinstance(v, bool) for v in numbers):
            try:
                return np.array([math.nan if v is None else v for v in values], dtype=np.float64)
            except OverflowError:
                return array
    if array.dtype.kind in "US" and array.ndim == 2 and not all(isinstance(v, str) for row in values for v in row):
        # rows mixing numbers and text: numpy turned every number into text; keep the values
        mixed = np.empty(array.shape, dtype=object)
        mixed[:] = [list(row) for row in values]
        return mixed
    return array


def rows_to_data(rows: Any, field: str) -> np.ndarray[Any, Any] | dict[str, np.ndarray[Any, Any]]:
    """``instances``/``dataframe_records``/``inputs`` rows: a list of objects becomes named
    columns, a list of lists (or scalars) one array."""
    if not isinstance(rows, list):
        raise ValidationFailed(f"'{field}' must be a list of rows", {"field": field})
    if not rows:
        raise ValidationFailed(f"'{field}' is empty", {"field": field})
    if isinstance(rows[0], dict):
        if not all(isinstance(row, dict) for row in rows):
            raise ValidationFailed(f"'{field}' mixes objects and other rows", {"field": field})
        names: dict[str, None] = {}
        for row in rows:
            names.update(dict.fromkeys(row))
        return {name: value_array([row.get(name) for row in rows], name) for name in names}
    if any(isinstance(row, dict) for row in rows):
        raise ValidationFailed(f"'{field}' mixes objects and other rows", {"field": field})
    return value_array(rows, field)


def columns_from_split(payload: Any, field: str) -> np.ndarray[Any, Any] | dict[str, np.ndarray[Any, Any]]:
    """pandas' split orient: ``{"columns": [...], "data": [[...], ...], "index"?: [...]}``."""
    if not isinstance(payload, dict):
        raise ValidationFailed(f"'{field}' must be an object with 'columns' and 'data'", {"field": field})
    data = payload.get("data")
    columns = payload.get("columns")
    if columns is None:
        return rows_to_data(data, f"{field}.data")
    if not isinstance(columns, list) or not all(isinstance(c, str | int) for c in columns):
        raise ValidationFailed(f"'{field}.columns' must be a list of column names", {"field": f"{field}.columns"})
    if not isinstance(data, list) or not data:
        raise ValidationFailed(f"'{field}.data' must be a non-empty list of rows", {"field": f"{field}.data"})
    width = len(columns)
    for i, row in enumerate(data):
        if not isinstance(row, list) or len(row) != width:
            raise ValidationFailed(
                f"'{field}.data' row {i} must be a list of {width} values (one per column)",
                {"field": f"{field}.data"},
            )
    transposed = zip(*data, strict=True)
    return {str(name): value_array(list(values), str(name)) for name, values in zip(columns, transposed, strict=True)}


__all__ = [
    "VALUE_TYPE_TO_V2",
    "V2_TO_NUMPY",
    "columns_from_split",
    "decode_tensor",
    "rows_to_data",
    "v2_datatype",
    "value_array",
]
