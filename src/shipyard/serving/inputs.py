"""Fitting decoded request data to a model's signature, before it is queued.

Every protocol decodes its body into either one array or named arrays; :func:`prepare`
checks them against the signature (missing column or tensor, wrong shape, a type that
cannot be cast without loss: :class:`ValidationFailed` naming the field, so a bad request
never reaches the model) and casts them to the declared types. The result carries a
*batch key*: two requests with the same key can be concatenated along their first axis
and run as one call (:func:`assemble`), and the output split back by row counts.

Named inputs the signature does not know are ignored, as ``LoadedModel.predict`` ignores
extra DataFrame columns. A table model also takes one unnamed 2-D array whose columns are
the signature's, in order (``[[5.1, 3.5, 1.4, 0.2]]`` for iris); as JSON rows mixing
``1.5`` and ``2`` arrive as floats, an integral float fills an integer column there.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, Literal

import numpy as np

from shipyard.errors import ValidationFailed
from shipyard.models.signature import NUMERIC_TYPES, ColumnSpec, ModelSignature, TensorSpec, values_type
from shipyard.models.validation import castable  # the models layer's one casting rule
from shipyard.serving.tensors import value_array

Array = np.ndarray[Any, Any]
Data = Array | dict[str, Array]
Kind = Literal["columns", "tensor", "tensors"]
_INTEGERS = frozenset({"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"})


class Prepared:
    """Request data fitted to the signature. ``key`` is None when it cannot be batched.
    (Not a dataclass: see :class:`~shipyard.serving.http.Response`.)"""

    __slots__ = ("key", "kind", "rows", "value")

    def __init__(self, kind: Kind, value: Any, rows: int, key: Hashable | None) -> None:
        self.kind = kind
        self.value = value  # dict[str, Array] for columns/tensors, Array for tensor
        self.rows = rows
        self.key = key


def prepare(signature: ModelSignature | None, data: Data) -> Prepared:
    if signature is None:
        return _unsigned(data)
    if signature.takes_columns:
        return _columns([s for s in signature.inputs if isinstance(s, ColumnSpec)], data)
    return _tensors([s for s in signature.inputs if isinstance(s, TensorSpec)], data)


def assemble(parts: Sequence[Prepared]) -> Any:
    """The model input for several prepared requests with the same batch key."""
    first = parts[0]
    if first.kind == "tensor":
        return first.value if len(parts) == 1 else np.concatenate([p.value for p in parts])
    if len(parts) == 1:
        merged = first.value
    else:
        merged = {name: np.concatenate([p.value[name] for p in parts]) for name in first.value}
    if first.kind == "columns":
        import pandas as pd

        return pd.DataFrame({name: _column_values(values) for name, values in merged.items()}, copy=False)
    return merged


def _column_values(values: Array) -> Any:
    return list(values) if values.ndim > 1 else values


# --- columns ----------------------------------------------------------------------


# The value type of the common dtypes, looked up per request without numpy's slow ``dtype.name``.
_DTYPE_VALUE_TYPES: dict[np.dtype[Any], str] = {np.dtype(t): t for t in NUMERIC_TYPES}


def _cast(values: Array, field: str, label: str, expected: str) -> Array:
    actual = _DTYPE_VALUE_TYPES.get(values.dtype) or values_type(values)
    if not castable(actual, expected):
        raise ValidationFailed(
            f"{label} has type {actual}, which cannot be safely cast to {expected}",
            {"field": field, "expected": expected, "actual": actual},
        )
    if actual != expected and values.dtype.kind in "biuf" and expected not in ("object", "string", "bytes"):
        return values.astype(expected)
    return values


def _positional(array: Array, specs: list[ColumnSpec]) -> dict[str, Array]:
    names = [spec.name for spec in specs]
    if array.ndim == 1 and len(names) == 1:
        return {names[0]: array}
    if array.ndim != 2 or array.shape[1] != len(names):
        raise ValidationFailed(
            f"expected a table with columns {names} (or one 2-D array with {len(names)} columns); "
            f"got an array of shape {list(array.shape)}",
            {"field": "inputs", "expected_columns": names, "actual_shape": list(array.shape)},
        )
    columns = {}
    for i, spec in enumerate(specs):
        column = array[:, i]
        if column.dtype.kind == "O":  # rows mixing numbers and text: judge each column by itself
            column = value_array(column.tolist(), spec.name)
        elif column.dtype.kind == "f" and spec.type in _INTEGERS and _integral(column):
            # JSON rows mixing 1.5 and 2 arrive as floats; an integral value is an integer
            column = column.astype(np.int64)
        columns[spec.name] = column
    return columns


def _integral(values: Array) -> bool:
    return bool(np.isfinite(values).all() and (values == np.round(values)).all())


def _column(spec: ColumnSpec, values: Array) -> Array:
    label = f"column '{spec.name}'"
    if values.ndim == 0:
        values = values.reshape(1)
    if values.ndim == 2 and values.shape[1] == 1 and spec.shape is None:
        values = values[:, 0]
    if values.ndim != 1 and spec.shape is None:
        raise ValidationFailed(
            f"{label} takes one value per row (shape [-1]); got shape {list(values.shape)}",
            {"field": spec.name, "expected_shape": [-1], "actual_shape": list(values.shape)},
        )
    return _cast(values, spec.name, label, spec.type)


def _columns(specs: list[ColumnSpec], data: Data) -> Prepared:
    names = [spec.name for spec in specs]
    if isinstance(data, dict) and len(data) == 1:
        only = next(iter(data))
        if only not in names:  # one unnamed table ("input-0" of shape [n, columns])
            data = data[only]
    if not isinstance(data, dict):
        data = _positional(data, specs)
    columns: dict[str, Array] = {}
    rows = -1
    first = ""
    for spec in specs:
        values = data.get(spec.name)
        if values is None:
            if spec.optional:
                continue
            raise ValidationFailed(
                f"input is missing column '{spec.name}'; this model takes columns {names}",
                {"field": spec.name, "problem": "missing"},
            )
        values = _column(spec, values)
        if rows < 0:
            rows, first = len(values), spec.name
        elif len(values) != rows:
            raise ValidationFailed(
                f"column '{spec.name}' has {len(values)} rows but column '{first}' has {rows}",
                {"field": spec.name, "expected_rows": rows, "actual_rows": len(values)},
            )
        columns[spec.name] = values
    if rows == 0:
        raise ValidationFailed("input has no rows", {"field": "inputs"})
    key = ("columns", tuple((name, v.dtype.str, v.shape[1:]) for name, v in columns.items()))
    return Prepared("columns", columns, rows, key)


# --- tensors ------------------------------------------------------------------------


def _tensor(spec: TensorSpec, values: Array, field: str) -> Array:
    label = f"tensor '{field}'" if field != "data" else "input"
    fits = values.ndim == len(spec.shape) and all(d in (-1, n) for d, n in zip(spec.shape, values.shape, strict=True))
    if not fits:
        raise ValidationFailed(
            f"{label} has shape {list(values.shape)}; expected {spec.shape} (-1: any size)",
            {"field": field, "expected_shape": spec.shape, "actual_shape": list(values.shape)},
        )
    return _cast(values, field, label, spec.type)


def _batchable(spec: TensorSpec) -> bool:
    return bool(spec.shape) and spec.shape[0] == -1


def _tensors(specs: list[TensorSpec], data: Data) -> Prepared:
    if len(specs) == 1:
        spec = specs[0]
        if isinstance(data, dict):
            if len(data) == 1:
                field, array = next(iter(data.items()))
            elif spec.name is not None and spec.name in data:
                field, array = spec.name, data[spec.name]
            else:
                raise ValidationFailed(
                    f"this model takes one tensor{f' ({spec.name!r})' if spec.name else ''}; got inputs {sorted(data)}",
                    {"field": "inputs"},
                )
        else:
            field, array = spec.name or "data", data
        array = _tensor(spec, array, field)
        rows = int(array.shape[0]) if array.ndim else 1
        key = ("tensor", array.dtype.str, array.shape[1:]) if _batchable(spec) else None
        return Prepared("tensor", array, rows, key)
    if not isinstance(data, dict):
        raise ValidationFailed(
            f"this model takes named tensors {[s.name for s in specs]}; got one unnamed array", {"field": "inputs"}
        )
    tensors: dict[str, Array] = {}
    for spec in specs:
        name = str(spec.name)
        if name not in data:
            if spec.optional:
                continue
            raise ValidationFailed(
                f"input is missing tensor '{name}'; this model takes {[s.name for s in specs]}",
                {"field": name, "problem": "missing"},
            )
        tensors[name] = _tensor(spec, data[name], name)
    return _named(tensors, batchable=all(_batchable(s) for s in specs))


def _named(tensors: dict[str, Array], *, batchable: bool) -> Prepared:
    leading = {int(a.shape[0]) if a.ndim else -1 for a in tensors.values()}
    rows = next(iter(leading)) if len(leading) == 1 else 1
    key = None
    if batchable and len(leading) == 1 and rows >= 0:
        key = ("tensors", tuple((name, a.dtype.str, a.shape[1:]) for name, a in tensors.items()))
    return Prepared("tensors", tensors, max(rows, 1), key)


def _unsigned(data: Data) -> Prepared:
    """A model saved without a signature: take the data as it comes."""
    if isinstance(data, dict) and len(data) == 1:
        data = next(iter(data.values()))
    if not isinstance(data, dict):
        if data.ndim == 0:
            data = data.reshape(1)
        return Prepared("tensor", data, int(data.shape[0]), ("tensor", data.dtype.str, data.shape[1:]))
    lengths = {len(a) if a.ndim == 1 else -1 for a in data.values()}
    if len(lengths) == 1 and (rows := next(iter(lengths))) > 0:
        key = ("columns", tuple((name, a.dtype.str) for name, a in data.items()))
        return Prepared("columns", dict(data), rows, key)
    return _named(dict(data), batchable=False)


__all__ = ["Data", "Prepared", "assemble", "prepare"]
