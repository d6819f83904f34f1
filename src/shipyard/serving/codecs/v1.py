"""KServe V1 (TF-Serving style) JSON: ``{"instances": [...]}`` or ``{"inputs": ...}`` in,
``{"predictions": [...]}`` out, ``{"error": "..."}`` on failure.

``instances`` is a list of rows (lists) or of row objects (``{"column": value}``).
``?method=predict_proba`` in the query, or ``"params": {"method": "predict_proba"}``,
asks for class probabilities.
"""

from __future__ import annotations

from typing import Any

from shipyard.errors import InvalidArgument
from shipyard.serving.codecs.common import inputs_to_data, json_object, method_of, split_params
from shipyard.serving.dataplane import InferenceRequest, InferenceResult
from shipyard.serving.outputs import plain
from shipyard.serving.tensors import rows_to_data


def decode(body: bytes, query: dict[str, str], deadline_for: Any) -> InferenceRequest:
    doc = json_object(body)
    if "instances" in doc and "inputs" in doc:
        raise InvalidArgument("give 'instances' or 'inputs', not both", {"field": "instances"})
    if "instances" in doc:
        data = rows_to_data(doc["instances"], "instances")
    elif "inputs" in doc:
        data = inputs_to_data(doc["inputs"], "inputs")
    else:
        raise InvalidArgument(
            "the body needs 'instances' (a list of rows or row objects) or 'inputs'", {"field": "instances"}
        )
    method, timeout_ms, params = split_params(doc.get("params"), "params")
    method = method_of(query.get("method"), "method") or method
    return InferenceRequest(data=data, method=method, params=params, deadline=deadline_for(timeout_ms))


def encode(result: InferenceResult) -> dict[str, Any]:
    return {"predictions": plain(result.output)}


def error_body(message: str) -> dict[str, Any]:
    return {"error": message}


__all__ = ["decode", "encode", "error_body"]
