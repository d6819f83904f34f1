"""What the JSON codecs share: the body must be one JSON object; ``method`` and
``timeout_ms`` are the data plane's own parameters, the rest go to the model."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from shipyard.errors import InvalidArgument, ValidationFailed
from shipyard.serving.inputs import Data
from shipyard.serving.outputs import METHODS
from shipyard.serving.tensors import rows_to_data, value_array


def json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise InvalidArgument("the request body is empty; send a JSON object", {"field": "body"})
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"the request body is not valid JSON: {exc}", {"field": "body"}) from None
    if not isinstance(value, dict):
        raise InvalidArgument(f"the request body must be a JSON object, not {type(value).__name__}", {"field": "body"})
    return value


def method_of(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value not in METHODS:
        raise InvalidArgument(f"{field} must be one of {list(METHODS)}, not {value!r}", {"field": field})
    return value


def split_params(params: Any, field: str) -> tuple[str | None, Any, dict[str, Any] | None]:
    """``(method, timeout_ms, model params)`` from a ``parameters``/``params`` object."""
    if params is None:
        return None, None, None
    if not isinstance(params, dict):
        raise InvalidArgument(f"'{field}' must be an object", {"field": field})
    rest = {k: v for k, v in params.items() if k not in ("method", "timeout_ms", "content_type")}
    return method_of(params.get("method"), f"{field}.method"), params.get("timeout_ms"), rest or None


def inputs_to_data(value: Any, field: str) -> Data:
    """TF-serving ``inputs``: a list of rows, or an object of named columns/tensors."""
    if isinstance(value, dict):
        if not value:
            raise ValidationFailed(f"'{field}' is empty", {"field": field})
        return {str(name): value_array(values, str(name)) for name, values in value.items()}
    if isinstance(value, list):
        return rows_to_data(value, field)
    if isinstance(value, int | float | str | bool):
        return np.asarray([value])
    raise ValidationFailed(f"'{field}' must be a list of rows or an object of columns", {"field": field})


__all__ = ["inputs_to_data", "json_object", "method_of", "split_params"]
