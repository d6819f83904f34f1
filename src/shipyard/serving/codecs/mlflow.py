"""MLflow scoring (``mlflow models serve``'s ``POST /invocations``).

``application/json`` with exactly one of ``dataframe_split`` (pandas split orient),
``dataframe_records`` (a list of row objects), ``instances`` (rows) or ``inputs`` (rows,
or an object of columns/tensors), plus an optional ``params`` object; ``text/csv`` with a
header row; ``application/vnd.apache.parquet``. The charset, if given, must be UTF-8; any
other content type is 415. Reply ``{"predictions": ...}`` (a DataFrame output as a list of
row objects); errors as MLflow writes them, ``{"error_code": "BAD_REQUEST", "message": "..."}``.
"""

from __future__ import annotations

import io
from typing import Any

from shipyard.errors import InvalidArgument
from shipyard.serving.codecs.common import inputs_to_data, json_object, method_of, split_params
from shipyard.serving.dataplane import InferenceRequest, InferenceResult
from shipyard.serving.errors import UnsupportedMediaType
from shipyard.serving.inputs import Data
from shipyard.serving.outputs import plain
from shipyard.serving.tensors import columns_from_split, rows_to_data

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
PARQUET = ("application/vnd.apache.parquet", "application/x-parquet")
_ERROR_CODES = {
    404: "RESOURCE_DOES_NOT_EXIST",
    429: "RESOURCE_EXHAUSTED",
    503: "TEMPORARILY_UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def _media_type(content_type: str | None) -> str:
    if not content_type:
        return "application/json"
    mime, _, options = content_type.partition(";")
    for option in options.split(";"):
        key, _, value = option.strip().partition("=")
        if key.lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise UnsupportedMediaType(
                f"charset {value.strip()!r} is not supported; send UTF-8", {"field": "content-type"}
            )
    return mime.strip().lower()


def _frame_data(frame: Any) -> Data:
    if frame.empty:
        raise InvalidArgument("the table has no rows", {"field": "body"})
    return {str(name): frame[name].to_numpy() for name in frame.columns}


def _csv(body: bytes) -> Data:
    import pandas as pd

    try:
        frame = pd.read_csv(io.BytesIO(body))
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InvalidArgument(f"the body is not a readable CSV table: {exc}", {"field": "body"}) from None
    return _frame_data(frame)


def _parquet(body: bytes) -> Data:
    import pandas as pd

    try:
        frame = pd.read_parquet(io.BytesIO(body))
    except (ValueError, OSError, TypeError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise InvalidArgument(f"the body is not a readable Parquet file: {exc}", {"field": "body"}) from None
    return _frame_data(frame)


def _json(doc: dict[str, Any]) -> Data:
    present = [key for key in FORMATS if key in doc]
    if len(present) != 1:
        found = f"found {present}" if present else "found none"
        raise InvalidArgument(f"the body needs exactly one of {list(FORMATS)}; {found}", {"field": "body"})
    key = present[0]
    value = doc[key]
    if key == "dataframe_split":
        return columns_from_split(value, key)
    if key == "inputs":
        return inputs_to_data(value, key)
    return rows_to_data(value, key)


def decode(body: bytes, content_type: str | None, query: dict[str, str], deadline_for: Any) -> InferenceRequest:
    mime = _media_type(content_type)
    params: dict[str, Any] | None = None
    method = timeout_ms = None
    if mime == "application/json":
        doc = json_object(body)
        data = _json(doc)
        method, timeout_ms, params = split_params(doc.get("params"), "params")
    elif mime == "text/csv":
        data = _csv(body)
    elif mime in PARQUET:
        data = _parquet(body)
    else:
        raise UnsupportedMediaType(
            f"content type '{mime}' is not supported; use application/json, text/csv or {PARQUET[0]}",
            {"field": "content-type"},
        )
    method = method_of(query.get("method"), "method") or method
    return InferenceRequest(data=data, method=method, params=params, deadline=deadline_for(timeout_ms))


def encode(result: InferenceResult) -> dict[str, Any]:
    return {"predictions": plain(result.output)}


def error_body(status: int, message: str) -> dict[str, Any]:
    code = _ERROR_CODES.get(status, "INTERNAL_ERROR" if status >= 500 else "BAD_REQUEST")
    return {"error_code": code, "message": message}


__all__ = ["FORMATS", "decode", "encode", "error_body"]
