"""Exception handlers: every error leaves the server as ``{"error": {code, message, details}}``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from shipyard.errors import (
    InternalError,
    InvalidArgument,
    MethodNotAllowed,
    NotFound,
    RangeNotSatisfiable,
    ShipyardError,
    Unauthenticated,
    ValidationFailed,
)


def envelope(error: ShipyardError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error.to_dict()}, status_code=error.status, headers=headers)


async def shipyard_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ShipyardError)
    headers = None
    if isinstance(exc, RangeNotSatisfiable) and "size" in exc.details:
        headers = {"Content-Range": f"bytes */{exc.details['size']}"}
    elif isinstance(exc, Unauthenticated):
        # RFC 6750: name the scheme; error="invalid_token" when a credential was sent.
        missing = exc.details.get("reason") in ("missing", "malformed")
        headers = {"WWW-Authenticate": 'Bearer realm="shipyard"' + ("" if missing else ', error="invalid_token"')}
    elif isinstance(exc.details.get("retry_after_s"), int):
        headers = {"Retry-After": str(exc.details["retry_after_s"])}
    return envelope(exc, headers)


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    error: ShipyardError
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        error = NotFound(f"no such endpoint: {request.method} {request.url.path}", {"path": request.url.path})
    elif exc.status_code == 405:
        allowed = _allowed_methods(request)
        headers = {k: v for k, v in headers.items() if k.lower() != "allow"} | {"Allow": ", ".join(allowed)}
        error = MethodNotAllowed(
            f"{request.method} is not allowed on {request.url.path}; allowed: {', '.join(allowed)}",
            {"method": request.method, "allowed": allowed},
        )
    elif exc.status_code < 500:
        error = InvalidArgument(str(exc.detail))
        response = JSONResponse({"error": error.to_dict()}, status_code=exc.status_code, headers=headers)
        return response
    else:
        error = InternalError(str(exc.detail))
    return envelope(error, headers)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route accepts on this path (Starlette names only the first).
    The app's OpenAPI-visible routes are the flat list FastAPI keeps for documentation."""
    methods: set[str] = set()
    probe = {**request.scope, "method": "__probe__"}
    for route in request.app.router.routes:
        for leaf in leaf_routes(route):
            match, _ = leaf.matches(probe)
            if match is not Match.NONE:
                methods |= set(getattr(leaf, "methods", None) or ())
    return sorted(methods)


def leaf_routes(route: Any) -> list[Any]:
    """The routes an entry of ``app.router.routes`` stands for (included routers flattened)."""
    included = getattr(route, "original_router", None)
    if included is not None:
        return [leaf for child in included.routes for leaf in leaf_routes(child)]
    return [route]


def _field(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


async def validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = exc.errors()
    if any(p.get("type") == "json_invalid" for p in problems):
        return envelope(InvalidArgument("request body is not valid JSON", {"field": "body"}))
    fields = [{"field": _field(p["loc"]), "message": p["msg"], "type": p["type"]} for p in problems]
    first = fields[0]
    summary = f"{first['field']}: {first['message']}"
    if len(fields) > 1:
        summary += f" (and {len(fields) - 1} more)"
    return envelope(ValidationFailed(summary, {"fields": fields}))


def install(app: FastAPI) -> None:
    app.add_exception_handler(ShipyardError, shipyard_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
