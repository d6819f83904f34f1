"""HTTP plumbing of the data plane, on raw ASGI: the request context, JSON bodies with
orjson, and the headers every reply carries (``X-Request-ID``, ``traceparent``,
``X-Shipyard-Model-Version``)."""

from __future__ import annotations

import random
import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import numpy as np
import orjson
from starlette.types import Receive, Scope, Send

from shipyard.errors import InvalidArgument, PayloadTooLarge
from shipyard.serving.settings import ServingSettings

if TYPE_CHECKING:
    from shipyard.serving.dataplane import InferenceRequest, InferenceResult
    from shipyard.serving.routes import Route
    from shipyard.serving.runtime import ModelRuntime

JSON = b"application/json"
TEXT = b"text/plain; charset=utf-8"
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")  # as the control plane's X-Request-ID rule
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
_NUMPY = orjson.OPT_SERIALIZE_NUMPY


def _default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "M":
            return np.datetime_as_string(value).tolist()
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    isoformat = getattr(value, "isoformat", None)  # pandas Timestamp, datetime
    if callable(isoformat):
        return isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def dumps(payload: Any) -> bytes:
    return orjson.dumps(payload, option=_NUMPY, default=_default)


class Response:
    """A reply. (A plain class, as are the other objects built per request: compiled
    (``hatch_build.py``), a dataclass still runs its generated ``__init__`` as interpreted
    Python.)"""

    __slots__ = ("body", "content_type", "headers", "status")

    def __init__(
        self, status: int, body: bytes, content_type: bytes = JSON, headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers: list[tuple[bytes, bytes]] = [] if headers is None else headers


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(status, dumps(payload))


def text_response(text: str, status: int = 200) -> Response:
    return Response(status, text.encode(), TEXT)


class RequestContext:
    """One HTTP request as the handlers see it, whichever front received it (the ASGI app's
    :meth:`from_scope`, or :mod:`shipyard.serving.native_http`). The body is either given
    whole (``body``) or read from ``receive``, an ASGI receive callable."""

    __slots__ = (
        "_body",
        "_query",
        "counted",
        "error",
        "headers",
        "inference",
        "method",
        "path",
        "protocol",
        "query_string",
        "receive",
        "request_id",
        "result",
        "route",
        "runtime",
        "settings",
        "started",
    )

    def __init__(
        self,
        method: str,
        path: str,
        query_string: bytes,
        headers: dict[bytes, bytes],
        settings: ServingSettings,
        *,
        receive: Receive | None = None,
        body: bytes | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.query_string = query_string
        self.headers = headers
        self.settings = settings
        self.receive = receive
        self._body = body
        self.started = time.monotonic()
        candidate = headers.get(b"x-request-id")
        if candidate is not None and _VALID_ID.match(candidate.decode("latin-1")):
            self.request_id = candidate.decode("latin-1")
        else:
            self.request_id = f"{random.getrandbits(128):032x}"  # an id, not a secret: no syscall per request
        self.protocol = "none"
        self.route: Route | None = None  # the matched route, once matched
        self.runtime: ModelRuntime | None = None  # the model version answering, once known
        self.counted = False  # whether this request is in the model's in-flight gauge
        self.inference: InferenceRequest | None = None  # the decoded request, once decoded
        self.result: InferenceResult | None = None  # the model's answer, once known
        self.error: str | None = None  # why the request failed, if it did
        self._query: dict[str, str] | None = None

    @classmethod
    def from_scope(cls, scope: Scope, receive: Receive, settings: ServingSettings) -> RequestContext:
        headers: dict[bytes, bytes] = dict(scope.get("headers") or ())
        return cls(
            str(scope["method"]),
            str(scope["path"]),
            scope.get("query_string") or b"",
            headers,
            settings,
            receive=receive,
        )

    def header(self, name: bytes) -> str | None:
        value = self.headers.get(name)
        return None if value is None else value.decode("latin-1")

    @property
    def query(self) -> dict[str, str]:
        if self._query is None:
            raw = self.query_string
            self._query = dict(parse_qsl(raw.decode("latin-1"))) if raw else {}
        return self._query

    def whole_body(self) -> bytes | None:
        """The body if the front gave it whole (refused with 413 past ``max_body_bytes``),
        else None: read it with :meth:`body`."""
        body = self._body
        if body is not None and len(body) > self.settings.max_body_bytes:
            raise _too_large(self.settings.max_body_bytes)
        return body

    async def body(self) -> bytes:
        """The whole body, refused with 413 past ``max_body_bytes``."""
        limit = self.settings.max_body_bytes
        declared = self.headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _too_large(limit)
        whole = self.whole_body()
        if whole is not None:  # given whole by the front
            return whole
        if self.receive is None:
            return b""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise InvalidArgument("the client went away before sending the whole body", {"field": "body"})
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def deadline(self, timeout_ms: Any = None) -> float:
        """When this request's answer stops being useful: the server's ``timeout_s``, lowered
        (never raised) by the ``X-Request-Timeout-Ms`` header or a ``timeout_ms`` parameter."""
        seconds = self.settings.timeout_s
        header = self.header(b"x-request-timeout-ms")
        for source, value in (("X-Request-Timeout-Ms", header), ("timeout_ms", timeout_ms)):
            if value is None:
                continue
            try:
                ms = float(value)
            except (TypeError, ValueError):
                ms = -1.0
            if not ms > 0 or isinstance(value, bool):
                raise InvalidArgument(f"{source} must be a positive number of milliseconds", {"field": source})
            seconds = min(seconds, ms / 1000)
        return self.started + seconds

    def reply_headers(self) -> list[tuple[bytes, bytes]]:
        headers = [(b"x-request-id", self.request_id.encode())]
        traceparent = self.headers.get(b"traceparent")
        if traceparent is not None and _TRACEPARENT.match(traceparent.decode("latin-1")):
            headers.append((b"traceparent", traceparent))
        if self.runtime is not None:
            headers.append((b"x-shipyard-model-version", self.runtime.label.encode()))
        return headers


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"request body exceeds {limit} bytes", {"limit": limit})


async def send_response(send: Send, response: Response, extra: list[tuple[bytes, bytes]]) -> None:
    headers = [
        (b"content-type", response.content_type),
        (b"content-length", str(len(response.body)).encode()),
        *extra,
        *response.headers,
    ]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


__all__ = ["JSON", "RequestContext", "Response", "dumps", "json_response", "send_response", "text_response"]
