"""The input example, stored as ``input_example.json`` beside the model.

Encodings (``type`` in the file and in the manifest's reference):

- ``dataframe``: ``{"columns": [...], "data": [[...], ...], "types": {column: value type}}``
  (pandas' "split" layout; ``types`` restores the dtypes JSON cannot carry)
- ``ndarray``: ``{"dtype": "float64", "data": nested lists}``
- ``tensors``: ``{"data": {name: {"dtype": ..., "data": ...}}}``
- ``records``: ``{"data": [{...}, ...]}``

NaN is written as ``null`` and datetimes as ISO 8601 strings, so the file is strict JSON.
MLflow's ``input_example.json`` (``dataframe`` in split layout, ``ndarray`` as
``{"inputs": ...}``) is read too.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidArgument, ValidationFailed
from shipyard.models.manifest import InputExampleRef
from shipyard.models.signature import NUMERIC_TYPES, values_type

EXAMPLE_FILE = "input_example.json"


def _plain(value: Any) -> Any:
    """A JSON-ready copy of ``value``: numpy scalars unwrapped, NaN → null, dates → ISO."""
    import numpy as np

    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else str(np.datetime_as_string(value))
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if _is_missing(value):
        return None
    raise InvalidArgument(
        f"input_example holds a {type(value).__name__}, which cannot be stored as JSON", {"field": "input_example"}
    )


def _is_missing(value: Any) -> bool:
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _array_payload(array: Any) -> dict[str, Any]:
    import numpy as np

    if array.dtype.kind == "M":
        return {"dtype": "datetime", "data": _plain(np.datetime_as_string(array).tolist())}
    return {"dtype": values_type(array), "data": _plain(array.tolist())}


def encode_example(example: Any) -> tuple[str, dict[str, Any]]:
    import numpy as np
    import pandas as pd

    if isinstance(example, pd.DataFrame):
        frame = example.rename(columns=str)
        data = [[_plain(v) for v in row] for row in frame.itertuples(index=False, name=None)]
        types = {name: values_type(frame[name]) for name in frame.columns}
        return "dataframe", {"columns": list(frame.columns), "data": data, "types": types}
    if isinstance(example, np.ndarray):
        return "ndarray", _array_payload(example)
    if isinstance(example, Mapping) and example:
        return "tensors", {"data": {str(k): _array_payload(np.asarray(v)) for k, v in example.items()}}
    if isinstance(example, list | tuple) and example and all(isinstance(r, Mapping) for r in example):
        return "records", {"data": _plain(list(example))}
    raise InvalidArgument(
        "input_example must be a DataFrame, a numpy array, a dict of arrays or a non-empty list of records",
        {"field": "input_example"},
    )


def write_example(example: Any, directory: Path) -> InputExampleRef:
    kind, payload = encode_example(example)
    text = json.dumps({"type": kind, **payload}, allow_nan=False, ensure_ascii=False)
    (directory / EXAMPLE_FILE).write_text(text + "\n", encoding="utf-8")
    return InputExampleRef(path=EXAMPLE_FILE, type=kind)


def _array(payload: Mapping[str, Any]) -> Any:
    import numpy as np

    dtype = payload.get("dtype", "object")
    if dtype == "datetime":
        return np.array(payload["data"], dtype="datetime64[ns]")
    if dtype in NUMERIC_TYPES or dtype == "bool":
        return np.array(payload["data"], dtype=dtype)
    return np.array(payload["data"], dtype=object if dtype == "object" else None)


def _frame(columns: list[str], data: list[Any], types: Mapping[str, str]) -> Any:
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame(data, columns=columns)
    for name, kind in types.items():
        if name not in frame.columns:
            continue
        if kind == "datetime":
            frame[name] = pd.to_datetime(frame[name])
        elif kind in NUMERIC_TYPES and not (frame[name].isna().any() and kind[0] in "iub"):
            frame[name] = frame[name].astype(np.dtype(kind))
    return frame


def read_example(directory: Path, ref: InputExampleRef) -> Any:
    """The stored example as a DataFrame, array, dict of arrays or list of records."""
    import numpy as np

    try:
        payload = json.loads((directory / ref.path).read_text(encoding="utf-8"))
        if ref.format == "mlflow":
            if ref.type == "dataframe":
                return _frame(payload.get("columns") or list(range(len(payload["data"][0]))), payload["data"], {})
            return np.asarray(payload["inputs"])
        if ref.type == "dataframe":
            return _frame(payload["columns"], payload["data"], payload.get("types", {}))
        if ref.type == "ndarray":
            return _array(payload)
        if ref.type == "tensors":
            return {name: _array(value) for name, value in payload["data"].items()}
        return payload["data"]
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise ValidationFailed(f"input example '{ref.path}' is unreadable: {exc}", {"path": ref.path}) from exc
