"""The model repository extension's request bodies (Open Inference Protocol, as Triton
and MLServer speak it). Every body is optional: no body, or ``{}``, asks for the default.

- index: ``{"ready": bool}`` (``true``: only the ready models);
- load: ``{"parameters": {}}`` (no parameter is supported: a model loads as its
  directory holds it);
- unload: ``{"parameters": {"unload_dependents": bool}}`` (accepted; Shipyard models
  have no dependents).
"""

from __future__ import annotations

from typing import Any

from shipyard.errors import InvalidArgument
from shipyard.serving.codecs.common import json_object


def _doc(body: bytes, allowed: tuple[str, ...], what: str) -> dict[str, Any]:
    if not body.strip():
        return {}
    doc = json_object(body)
    unknown = sorted(set(doc) - set(allowed))
    if unknown:
        raise InvalidArgument(
            f"the {what} request has an unknown field '{unknown[0]}'; it takes {list(allowed) or 'no fields'}",
            {"field": unknown[0], "expected": list(allowed)},
        )
    return doc


def _parameters(doc: dict[str, Any], allowed: tuple[str, ...], what: str) -> None:
    params = doc.get("parameters")
    if params is None:
        return
    if not isinstance(params, dict):
        raise InvalidArgument("'parameters' must be an object", {"field": "parameters"})
    for key, value in params.items():
        if key not in allowed:
            raise InvalidArgument(
                f"the {what} request has an unsupported parameter '{key}'; it takes {list(allowed) or 'none'}",
                {"field": f"parameters.{key}", "expected": list(allowed)},
            )
        if not isinstance(value, bool):
            raise InvalidArgument(f"parameters.{key} must be true or false", {"field": f"parameters.{key}"})


def decode_index(body: bytes) -> bool:
    """Whether only ready models are asked for."""
    ready = _doc(body, ("ready",), "index").get("ready", False)
    if not isinstance(ready, bool):
        raise InvalidArgument("'ready' must be true or false", {"field": "ready"})
    return ready


def decode_load(body: bytes) -> None:
    _parameters(_doc(body, ("parameters",), "load"), (), "load")


def decode_unload(body: bytes) -> None:
    _parameters(_doc(body, ("parameters",), "unload"), ("unload_dependents",), "unload")


__all__ = ["decode_index", "decode_load", "decode_unload"]
