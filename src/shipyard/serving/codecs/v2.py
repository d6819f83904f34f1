"""Open Inference Protocol v2 (KServe V2) JSON: ``$inference_request`` in,
``$inference_response`` out, ``{"error": "..."}`` on failure.

Request: ``{"id"?, "parameters"?, "inputs": [{"name", "shape", "datatype", "data"}], "outputs"?: [{"name"}]}``.
``data`` is nested or flat, row-major, and must hold exactly ``prod(shape)`` values.
``parameters.method`` (``predict``/``predict_proba``) and ``parameters.timeout_ms`` are
Shipyard's; ``content_type`` is accepted and ignored; other parameters go to the model
when its signature declares params.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shipyard.errors import InvalidArgument
from shipyard.models.signature import values_type
from shipyard.serving.codecs.common import json_object, split_params
from shipyard.serving.dataplane import InferenceRequest, InferenceResult
from shipyard.serving.outputs import PROBABILITIES, named_outputs
from shipyard.serving.tensors import decode_tensor, v2_datatype

Array = np.ndarray[Any, Any]
_NUMERIC = frozenset({"bool", "int64", "float64"})


def decode(body: bytes, deadline_for: Any) -> tuple[InferenceRequest, str | None]:
    """The request, and its ``id``. ``deadline_for(timeout_ms)`` gives the deadline."""
    doc = json_object(body)
    inputs = doc.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidArgument("'inputs' must be a non-empty list of tensors", {"field": "inputs"})
    data: dict[str, Array] = {}
    for i, item in enumerate(inputs):
        if not isinstance(item, dict):
            raise InvalidArgument(
                f"inputs[{i}] must be an object with name, shape, datatype and data", {"field": f"inputs[{i}]"}
            )
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidArgument(f"inputs[{i}].name must be a non-empty string", {"field": f"inputs[{i}].name"})
        if name in data:
            raise InvalidArgument(f"input '{name}' is given twice", {"field": name})
        for key in ("shape", "datatype", "data"):
            if key not in item:
                raise InvalidArgument(f"input '{name}' has no '{key}'", {"field": name, "expected": key})
        data[name] = decode_tensor(name, item["datatype"], item["shape"], item["data"])
    method, timeout_ms, params = split_params(doc.get("parameters"), "parameters")
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidArgument("'id' must be a string", {"field": "id"})
    return (
        InferenceRequest(
            data=data,
            method=method,
            outputs=_output_names(doc.get("outputs")),
            params=params,
            deadline=deadline_for(timeout_ms),
        ),
        request_id,
    )


def _output_names(outputs: Any) -> list[str] | None:
    if outputs is None:
        return None
    named = isinstance(outputs, list) and all(isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs)
    if not named:
        raise InvalidArgument("'outputs' must be a list of objects with a 'name'", {"field": "outputs"})
    return [str(o["name"]) for o in outputs] or None


def tensor(name: str, array: Array) -> dict[str, Any]:
    """One ``$response_output``: flat, row-major ``data``."""
    if array.dtype.kind == "O":
        kind = values_type(array)
        if kind in _NUMERIC:
            array = array.astype(kind)
    if array.dtype.kind in "biuf":
        return {"name": name, "datatype": v2_datatype(array.dtype), "shape": list(array.shape), "data": array.ravel()}
    if array.dtype.kind == "M":
        data: list[Any] = np.datetime_as_string(array.ravel()).tolist()
    else:
        data = [v if v is None or isinstance(v, str) else str(v) for v in array.ravel().tolist()]
    return {"name": name, "datatype": "BYTES", "shape": list(array.shape), "data": data}


def encode(result: InferenceResult, request_id: str, wanted: list[str] | None) -> dict[str, Any]:
    named: list[tuple[str, Array]] = []
    for method, output in result.by_method.items():
        if method == "predict_proba" and isinstance(output, np.ndarray):
            named.append((PROBABILITIES, output))
        else:
            named.extend(named_outputs(output, result.default_output))
    if wanted:
        available = dict(named)
        if missing := [n for n in wanted if n not in available]:
            raise InvalidArgument(
                f"the model returned no output '{missing[0]}'; it returned {list(available)}",
                {"field": "outputs", "expected": list(available)},
            )
        named = [(n, available[n]) for n in dict.fromkeys(wanted)]
    return {
        "model_name": result.model_name,
        "model_version": result.model_version,
        "id": request_id,
        "outputs": [tensor(name, array) for name, array in named],
    }


def error_body(message: str) -> dict[str, Any]:
    return {"error": message}


__all__ = ["decode", "encode", "error_body", "tensor"]
