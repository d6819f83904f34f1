"""Column access over pandas DataFrames and pyarrow Tables / RecordBatches.

The engine reads one column at a time: numbers as a float64 numpy array (missing values
as NaN), categories as value counts. pyarrow is imported only when the data is Arrow.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from shipyard.monitoring.errors import MonitoringInputError

Family = Literal["float", "int", "bool", "string", "datetime", "other"]
"""The storage family of a column: decides how it is read and the kind it defaults to."""

Counts = tuple[list[Any], NDArray[np.int64], int]
"""Value counts of a column: the distinct non-missing values, their counts, the missing count."""


def is_arrow(data: Any) -> bool:
    return type(data).__module__.split(".")[0] == "pyarrow"


def is_pandas(data: Any) -> bool:
    return type(data).__module__.split(".")[0] == "pandas" and hasattr(data, "columns")


def check_frame(data: Any, what: str) -> None:
    if not (is_arrow(data) or is_pandas(data)):
        raise MonitoringInputError(
            f"{what} must be a pandas DataFrame or a pyarrow Table/RecordBatch, not {type(data).__name__}",
            field=what,
        )


def column_names(data: Any) -> list[str]:
    if is_arrow(data):
        return [str(name) for name in data.schema.names]
    return [str(name) for name in data.columns]


def num_rows(data: Any) -> int:
    return int(data.num_rows) if is_arrow(data) else len(data)


def family(data: Any, name: str) -> Family:
    if is_arrow(data):
        import pyarrow as pa  # type: ignore[import-untyped]

        kind = data.schema.field(name).type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
            return "float"
        if pa.types.is_integer(kind):
            return "int"
        if pa.types.is_boolean(kind):
            return "bool"
        if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
            return "string"
        if pa.types.is_temporal(kind):
            return "datetime"
        return "other"
    import pandas as pd

    dtype = data[name].dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return "string"
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        return "datetime"
    if pd.api.types.is_string_dtype(dtype):
        return "string"
    return "other"


def numbers(data: Any, name: str) -> NDArray[np.float64]:
    """The column as float64; nulls become NaN (±inf are kept: the caller drops non-finite values)."""
    if is_arrow(data):
        import pyarrow as pa
        import pyarrow.compute as pc  # type: ignore[import-untyped]

        column = data.column(name)
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        column = pc.fill_null(pc.cast(column, pa.float64()), float("nan"))
        return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)
    series = data[name]
    return np.asarray(series.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)


def value_counts(data: Any, name: str) -> Counts:
    """Distinct non-missing values with their counts (vectorised: Arrow's or pandas' hash counts)."""
    if is_arrow(data):
        import pyarrow as pa
        import pyarrow.compute as pc

        column = data.column(name)
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        missing = int(column.null_count)
        counted = pc.value_counts(column)
        values = counted.field("values")
        keep = values.is_valid()
        values, counts = values.filter(keep), counted.field("counts").filter(keep)
        keys: list[Any] = values.to_pylist()
        array = np.asarray(counts.to_numpy(zero_copy_only=False), dtype=np.int64)
        if pa.types.is_floating(values.type):  # NaN in a float column counted as a category is missing
            nan = np.array([isinstance(k, float) and np.isnan(k) for k in keys], dtype=bool)
            if nan.any():
                missing += int(array[nan].sum())
                keys = [k for k, drop in zip(keys, nan, strict=True) if not drop]
                array = array[~nan]
        return keys, array, missing
    series = data[name]
    missing = int(series.isna().sum())
    counted = series.value_counts(dropna=True, sort=False)
    array = np.asarray(counted.to_numpy(), dtype=np.int64)
    keys = counted.index.tolist()
    present = array > 0  # a pandas Categorical counts its unused categories as 0
    if not present.all():
        keys = [k for k, keep in zip(keys, present, strict=True) if keep]
        array = array[present]
    return keys, array, missing


def select_rows(data: Any, mask: NDArray[np.bool_]) -> Any:
    if is_arrow(data):
        import pyarrow as pa

        return data.filter(pa.array(mask))
    return data[mask]


def keys_of(data: Any, name: str) -> NDArray[Any]:
    """The column as a numpy object array of Python values (None for missing), for slicing."""
    if is_arrow(data):
        return np.asarray(data.column(name).to_pylist(), dtype=object)
    series = data[name]
    return np.asarray(series.astype(object).where(series.notna(), None).to_numpy(), dtype=object)


__all__ = [
    "Counts",
    "Family",
    "check_frame",
    "column_names",
    "family",
    "is_arrow",
    "is_pandas",
    "keys_of",
    "num_rows",
    "numbers",
    "select_rows",
    "value_counts",
]
