"""Captures to one Arrow table, on the writer thread: one record per input row.

Columns, in order: the fixed ones (:data:`BASE_SCHEMA`), then one ``f_…`` column per
feature, then the outputs (``prediction`` or ``prediction_<name>``…, ``proba``).

Features are top-level columns, not a struct: a drift job reads exactly the columns it
needs, DuckDB selects them all with ``COLUMNS('f_.*')``, and ``union_by_name`` lines up
the files of versions whose signatures differ. The prefix keeps a feature called
``status`` or ``date`` apart from the log's own columns and from the hive partition keys.

- A column model: ``f_<column>`` per input column (a column holding a vector per row is a
  list column).
- A tensor model: a ``[n, k]`` tensor is a table in disguise, so each of its ``k``
  positions is a column, ``f_0`` … ``f_<k-1>`` (named tensors: ``f_<name>_<j>``); a
  ``[n]`` tensor is ``f_0`` (``f_<name>``); a wider or higher-rank tensor is one list
  column of each row's flattened values, ``f_input`` (``f_<name>``).
- ``predict``'s output: one array is ``prediction`` (a list column when each row has a
  vector); a table (DataFrame) is ``prediction_<column>`` per column.
- ``predict_proba``'s output, when it ran: ``proba``, a list of doubles per row.

Work is vectorised per column across all the captures of a flush (one concatenation,
one Arrow conversion), so a flush of many single-row requests costs little per request.
"""

from __future__ import annotations

import contextlib
from collections.abc import Hashable, Iterator, Sequence
from typing import Any, cast

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]

from shipyard.serving.inputs import Prepared
from shipyard.serving.outputs import named_outputs
from shipyard.serving.predlog.records import ERROR_CHARS, USER_KEY_CHARS, Capture, clip

Array = np.ndarray[Any, Any]
FEATURE_PREFIX = "f_"
PREDICTION = "prediction"
PROBA = "proba"
MAX_SPLIT = 256  # a [n, k] tensor with more positions than this is one list column
_INT32_MAX = 2**31 - 1

# The hive keys as readers should type them: pyarrow would guess ``version=3`` is an integer,
# which clashes with the files' own string column ``version``.
PARTITION_SCHEMA = pa.schema(
    [
        ("project", pa.string()),
        ("endpoint", pa.string()),
        ("model", pa.string()),
        ("version", pa.string()),
        ("date", pa.date32()),
    ]
)
BASE_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("row", pa.int64()),
        ("rows", pa.int32()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("model", pa.string()),
        ("version", pa.string()),
        ("protocol", pa.string()),
        ("status", pa.int32()),
        ("latency_ms", pa.float64()),
        ("error", pa.string()),
        ("user_key", pa.string()),
    ]
)


class _Columns:
    """The feature and output columns of one table: per column, pieces of values, each
    with the record positions it fills; positions no piece fills are null."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.pieces: dict[tuple[str, bool], list[tuple[Array, Array]]] = {}

    def add(self, name: str, positions: Array, values: Array, *, split: bool = False) -> None:
        self.pieces.setdefault((name, split), []).append((positions, values))

    def arrays(self) -> Iterator[tuple[str, Any]]:
        seen: set[str] = set()
        for (name, split), pieces in self.pieces.items():
            values, mask = _scatter(self.total, pieces)
            if values is None:
                named = [(name, _pieces_to_arrow(self.total, pieces))]
            elif split:
                named = [(f"{name}{j}", _to_arrow(values[:, j], mask)) for j in range(values.shape[1])]
            else:
                named = [(name, _to_arrow(values, mask))]
            for column, array in named:
                if column not in seen:  # generated names that clash: the first one wins
                    seen.add(column)
                    yield column, array


def _blank(like: Array, rows: int) -> Array:
    shape = (rows, *like.shape[1:])
    if like.dtype.kind in "biufmMUS":
        return np.zeros(shape, dtype=like.dtype)
    return np.full(shape, None, dtype=object)


def _scatter(total: int, pieces: list[tuple[Array, Array]]) -> tuple[Array | None, Array | None]:
    """``(values, mask of missing rows)`` over all ``total`` records, or ``(None, None)``
    when the pieces' rows differ in shape."""
    first = pieces[0][1]
    if len(pieces) == 1 and len(first) == total:
        return first, None  # the usual case: every record, in order
    if any(values.shape[1:] != first.shape[1:] for _, values in pieces):
        return None, None
    dtype = np.result_type(*(values.dtype for _, values in pieces))
    full = _blank(first.astype(dtype, copy=False), total)
    mask = np.ones(total, dtype=bool)
    for positions, values in pieces:
        full[positions] = values
        mask[positions] = False
    return full, (mask if mask.any() else None)


def _pieces_to_arrow(total: int, pieces: list[tuple[Array, Array]]) -> Any:
    """The slow path, for pieces whose rows differ in shape (vectors of varying widths):
    an Arrow array per piece, then put in record order with nulls in the gaps; as text if
    their types do not agree."""
    arrays = [_to_arrow(values, None) for _, values in pieces]
    kind = arrays[0].type
    try:
        joined = pa.concat_arrays([*(a.cast(kind) for a in arrays), pa.nulls(1, kind)])
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        joined = pa.concat_arrays([*(_as_text(a) for a in arrays), pa.nulls(1, pa.string())])
    order = np.full(total, len(joined) - 1, dtype=np.int64)  # the trailing null
    start = 0
    for positions, values in pieces:
        order[positions] = np.arange(start, start + len(values))
        start += len(values)
    return joined.take(pa.array(order))


def _as_text(array: Any) -> Any:
    return pa.array([None if v is None else str(v) for v in array.to_pylist()], pa.string())


def _to_arrow(values: Array, mask: Array | None) -> Any:
    if values.ndim > 1:
        rows = len(values)
        flat = values.reshape(rows, -1)
        width = flat.shape[1]
        inner = _to_arrow(flat.reshape(-1), None)
        nulls = None if mask is None else pa.array(mask)
        if rows * width > _INT32_MAX:
            offsets = pa.array(np.arange(0, rows * width + 1, width, dtype=np.int64))
            return pa.LargeListArray.from_arrays(offsets, inner, mask=nulls)
        offsets = pa.array(np.arange(0, rows * width + 1, width, dtype=np.int32))
        return pa.ListArray.from_arrays(offsets, inner, mask=nulls)
    if values.dtype.kind == "f" and values.dtype.itemsize < 4:
        values = values.astype(np.float32)  # half floats: not every Parquet reader knows them
    try:
        return pa.array(values, mask=mask, from_pandas=values.dtype.kind == "O")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError):
        # mixed Python objects, complex numbers: kept as text rather than lost
        hidden = mask if mask is not None else np.zeros(len(values), dtype=bool)
        return pa.array(
            [None if hide or v is None else str(v) for v, hide in zip(values.tolist(), hidden, strict=True)],
            pa.string(),
        )


def _tensor(name: str, values: Array, rows: int) -> Iterator[tuple[str, Array, bool]]:
    if values.ndim == 0 or values.shape[0] != rows:
        return  # not one entry per row (an unbatchable tensor): not a feature of the rows
    if values.ndim == 1:
        yield (f"{FEATURE_PREFIX}{name}" if name else f"{FEATURE_PREFIX}0"), values, False
    elif values.ndim == 2 and values.shape[1] <= MAX_SPLIT:
        yield (f"{FEATURE_PREFIX}{name}_" if name else FEATURE_PREFIX), values, True
    else:
        yield f"{FEATURE_PREFIX}{name or 'input'}", values, False


def _joined(parts: list[Array]) -> Array:
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def feature_arrays(group: Sequence[Prepared]) -> Iterator[tuple[str, Array, bool]]:
    """``(column name, values, split)`` for prepared inputs of one layout (one batch key),
    their rows one after the other; ``split``: each position of a 2-D array is a column
    (then the name is the columns' common prefix)."""
    first = group[0]
    rows = sum(p.rows for p in group)
    if first.kind == "tensor":
        yield from _tensor("", _joined([p.value for p in group]), rows)
        return
    for name in first.value:
        values = _joined([p.value[name] for p in group])
        if first.kind != "columns":
            yield from _tensor(name, values, rows)
        elif values.ndim >= 1 and values.shape[0] == rows:
            yield f"{FEATURE_PREFIX}{name}", values, False


def output_arrays(method: str, output: Any) -> Iterator[tuple[str, Array]]:
    if method == "predict_proba":
        yield PROBA, np.asarray(output, dtype=np.float64)
    elif isinstance(output, np.ndarray):
        yield PREDICTION, output
    else:  # a DataFrame: one output per column
        for name, values in named_outputs(output, PREDICTION):
            yield f"{PREDICTION}_{name}", values


def _positions(starts: Array, counts: Array, members: list[int]) -> Array:
    """The record positions of the rows of ``members`` (capture indices), in order."""
    chosen = np.asarray(members)
    sizes = counts[chosen]
    return np.repeat(starts[chosen] - (np.cumsum(sizes) - sizes), sizes) + np.arange(int(sizes.sum()))


def _layout(features: Prepared, i: int) -> Hashable:
    """What captures must share to be concatenated: their kind, and per array its name,
    dtype and shape after the rows; ``i`` (on its own) when its arrays are not all one per row."""
    value = features.value
    if features.kind == "tensor":
        return ("tensor", value.dtype.str, value.shape[1:]) if value.ndim and len(value) == features.rows else i
    if any(a.ndim == 0 or len(a) != features.rows for a in value.values()):
        return i
    return (features.kind, *((name, a.dtype.str, a.shape[1:]) for name, a in value.items()))


def _add_features(columns: _Columns, captures: Sequence[Capture], starts: Array, counts: Array) -> None:
    layouts: dict[Hashable, list[int]] = {}
    for i, capture in enumerate(captures):
        features = capture.features
        if features is not None:
            layouts.setdefault(_layout(features, i), []).append(i)
    for members in layouts.values():
        prepared = [captures[i].features for i in members]
        positions = _positions(starts, counts, members)
        for name, values, split in feature_arrays(cast(list[Prepared], prepared)):
            columns.add(name, positions, values, split=split)


def _add_outputs(columns: _Columns, captures: Sequence[Capture], starts: Array, counts: Array) -> None:
    by_method: dict[str, list[int]] = {}
    for i, capture in enumerate(captures):
        for method in capture.outputs or ():
            by_method.setdefault(method, []).append(i)
    for method, members in by_method.items():
        outputs = [cast(dict[str, Any], captures[i].outputs)[method] for i in members]
        groups: list[tuple[Any, list[int]]] = [(output, [i]) for output, i in zip(outputs, members, strict=True)]
        arrays = len(outputs) > 1 and all(isinstance(o, np.ndarray) and o.ndim >= 1 for o in outputs)
        if arrays and [len(o) for o in outputs] == counts[members].tolist():
            with contextlib.suppress(ValueError):  # rows of different shapes: each on its own
                groups = [(np.concatenate(outputs), members)]  # the usual case: one concatenation
        for output, chosen in groups:
            rows = int(counts[chosen].sum())
            for name, values in output_arrays(method, output):
                if values.ndim >= 1 and len(values) == rows:  # else it does not describe the rows
                    columns.add(name, _positions(starts, counts, chosen), values)


def warm_up() -> None:
    """Convert one record: pyarrow's first conversion from Python objects costs a second
    or more (it sets up its pandas shims), better spent before traffic than in a flush."""
    to_table([Capture(f"warm-up-{i}", 0.0, "", "", "", i, None) for i in range(2)])


def to_table(captures: Sequence[Capture]) -> Any:
    """One ``pa.Table`` for ``captures`` (of one partition), one record per row."""
    n = len(captures)
    counts = np.fromiter((c.records for c in captures), dtype=np.int64, count=n)
    total = int(counts.sum())
    starts = np.cumsum(counts) - counts
    index = None if total == n else pa.array(np.repeat(np.arange(n), counts))

    def per_row(values: list[Any], kind: Any) -> Any:
        """One value per request, on each of its rows. The same value everywhere (the
        model, status 200, no error) is one Arrow scalar repeated, not a conversion per row."""
        if values.count(values[0]) == n:
            return pa.nulls(total, kind) if values[0] is None else pa.repeat(pa.scalar(values[0], kind), total)
        array = pa.array(values, kind)
        return array if index is None else array.take(index)

    first_rows = np.fromiter((c.first_row for c in captures), dtype=np.int64, count=n)
    ts_us = np.fromiter((c.ts for c in captures), dtype=np.float64, count=n) * 1e6
    base = [
        per_row([c.request_id for c in captures], pa.string()),
        pa.array(np.repeat(first_rows - starts, counts) + np.arange(total, dtype=np.int64)),
        per_row([c.features.rows if c.features is not None else 0 for c in captures], pa.int32()),
        pa.array(np.repeat(ts_us.astype(np.int64), counts), pa.timestamp("us", tz="UTC")),
        per_row([c.model for c in captures], pa.string()),
        per_row([c.version for c in captures], pa.string()),
        per_row([c.protocol for c in captures], pa.string()),
        per_row([c.status for c in captures], pa.int32()),
        per_row([c.latency_ms for c in captures], pa.float64()),
        per_row([clip(c.error, ERROR_CHARS) for c in captures], pa.string()),
        per_row([clip(c.user_key, USER_KEY_CHARS) for c in captures], pa.string()),
    ]
    columns = _Columns(total)
    _add_features(columns, captures, starts, counts)
    _add_outputs(columns, captures, starts, counts)
    extra = list(columns.arrays())
    return pa.Table.from_arrays(
        [*base, *(array for _, array in extra)], names=[*BASE_SCHEMA.names, *(name for name, _ in extra)]
    )


__all__ = [
    "BASE_SCHEMA",
    "FEATURE_PREFIX",
    "PARTITION_SCHEMA",
    "PREDICTION",
    "PROBA",
    "feature_arrays",
    "output_arrays",
    "to_table",
    "warm_up",
]
