"""Describe a dataset for a run's inputs: name, digest, schema, row count, small profile.

Works on a pandas DataFrame, a numpy array, or a CSV/Parquet/other file path (files are
hashed as bytes; CSV files also get a schema and row count). pandas and numpy are
imported only when such an object is passed.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path
from typing import Any

from shipyard.artifacts.digests import file_digest
from shipyard.errors import InvalidArgument
from shipyard.tracking.schemas import DatasetIn

PROFILE_MAX_COLUMNS = 50


def describe(data: Any, *, name: str, source_uri: str = "", context: str = "training") -> DatasetIn:
    if isinstance(data, str | Path):
        return _from_path(Path(data), name=name, source_uri=source_uri or str(data), context=context)
    module = type(data).__module__.split(".")[0]
    if module == "pandas":
        return _from_frame(data, name=name, source_uri=source_uri, context=context)
    if module == "numpy":
        return _from_array(data, name=name, source_uri=source_uri, context=context)
    raise InvalidArgument(
        f"cannot describe a dataset of type {type(data).__name__}; pass a DataFrame, a numpy array or a file path",
        {"field": "data"},
    )


def _from_frame(df: Any, *, name: str, source_uri: str, context: str) -> DatasetIn:
    import pandas as pd

    h = hashlib.sha256()
    h.update(",".join(map(str, df.columns)).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    schema = {"columns": [{"name": str(c), "type": str(t)} for c, t in df.dtypes.items()]}
    profile: dict[str, Any] = {}
    for column in list(df.columns)[:PROFILE_MAX_COLUMNS]:
        series = df[column]
        stats: dict[str, Any] = {"nulls": int(series.isna().sum())}
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            described = series.describe()
            for stat in ("mean", "std", "min", "max"):
                value = described.get(stat)
                stats[stat] = None if value is None or pd.isna(value) else float(value)
        else:
            stats["distinct"] = int(series.nunique())
        profile[str(column)] = stats
    return DatasetIn(
        name=name,
        digest=h.hexdigest(),
        source_uri=source_uri,
        schema=schema,
        row_count=len(df),
        profile=profile,
        context=context,
    )


def _from_array(arr: Any, *, name: str, source_uri: str, context: str) -> DatasetIn:
    import numpy as np

    contiguous = np.ascontiguousarray(arr)
    h = hashlib.sha256()
    h.update(f"{contiguous.dtype.str}{contiguous.shape}".encode())
    h.update(contiguous.tobytes())
    profile: dict[str, Any] = {}
    if contiguous.size and np.issubdtype(contiguous.dtype, np.number):
        profile = {
            "mean": float(np.nanmean(contiguous)),
            "std": float(np.nanstd(contiguous)),
            "min": float(np.nanmin(contiguous)),
            "max": float(np.nanmax(contiguous)),
        }
    return DatasetIn(
        name=name,
        digest=h.hexdigest(),
        source_uri=source_uri,
        schema={"tensor": {"dtype": str(contiguous.dtype), "shape": [-1, *contiguous.shape[1:]]}},
        row_count=int(contiguous.shape[0]) if contiguous.ndim else 1,
        profile=profile,
        context=context,
    )


def _from_path(path: Path, *, name: str, source_uri: str, context: str) -> DatasetIn:
    if not path.is_file():
        raise InvalidArgument(f"dataset file {path} does not exist", {"field": "data"})
    digest, size = file_digest(path)
    schema: dict[str, Any] | None = None
    rows: int | None = None
    if path.suffix.lower() == ".csv":
        with path.open(newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, [])
            rows = sum(1 for _ in reader)
        schema = {"columns": [{"name": c, "type": "string"} for c in header]}
    return DatasetIn(
        name=name,
        digest=digest,
        source_uri=source_uri,
        schema=schema,
        row_count=rows,
        profile={"bytes": size},
        context=context,
    )
