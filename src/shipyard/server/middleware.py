"""The request-context middleware: request id, access log, metrics, last-resort errors.

It is the outermost layer Shipyard adds (see :func:`shipyard.server.app.create_app`), so
every reply, including a crash's, carries ``X-Request-ID`` and the one error envelope.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import structlog
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shipyard.errors import InternalError, ShipyardError
from shipyard.logging import get_logger
from shipyard.server.metrics import HttpMetrics

REQUEST_ID_HEADER = "x-request-id"
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

log = get_logger("shipyard.http")


def pick_request_id(headers: list[tuple[bytes, bytes]]) -> str:
    """Keep a caller's request id when it is a sane token, so traces join up across
    services; otherwise mint one."""
    for name, value in headers:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _VALID_ID.match(candidate):
                return candidate
    return uuid.uuid4().hex


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, metrics: HttpMetrics, access_log: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = pick_request_id(scope.get("headers", []))
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        response: dict[str, Any] = {"status": 500, "started": False}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                response["started"] = True
                response["status"] = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:
            response["status"] = 499  # nginx's "client closed request": nobody is listening
            log.info("client disconnected")
        except Exception as exc:
            if response["started"]:
                # The status line is gone; the only honest signal left is to abort the body.
                cause = _shipyard_cause(exc)
                log.error(
                    "response aborted",
                    error=str(cause or exc),
                    error_type=type(cause or exc).__name__,
                    exc_info=cause is None,
                )
                raise
            error = (
                exc
                if isinstance(exc, ShipyardError)
                else InternalError(
                    "internal error; the server log has the details under this request id",
                    {"request_id": request_id},
                )
            )
            log.error("unhandled error", error_type=type(exc).__name__, exc_info=True)
            await _send_error(send_with_id, error)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "<unmatched>"
            elapsed = time.perf_counter() - started
            self.metrics.observe(scope["method"], template, int(response["status"]), elapsed)
            if self.access_log:
                log.info(
                    "request",
                    method=scope["method"],
                    path=scope["path"],
                    route=template,
                    status=response["status"],
                    duration_ms=round(elapsed * 1000, 3),
                )
            structlog.contextvars.unbind_contextvars("request_id")


def _shipyard_cause(exc: BaseException) -> ShipyardError | None:
    """The ShipyardError behind ``exc`` (Starlette wraps errors raised mid-stream)."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, ShipyardError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


async def _send_error(send: Send, error: ShipyardError) -> None:
    body = json.dumps({"error": error.to_dict()}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
