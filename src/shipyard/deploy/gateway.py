"""The gateway in front of one endpoint's model servers (raw ASGI, like the data plane).

Per request it

1. reads the body (bounded), picks a backend by weight: with an ``X-Routing-Key`` header
   the choice is a hash of the key (sticky: the same key gets the same version while the
   weights stay put, and a key on the newer version stays there as its weight grows,
   see :func:`shipyard.deploy.rollout.blend`), otherwise a random draw;
2. forwards method, path, query, headers and body over a pooled keep-alive connection
   (:mod:`shipyard.deploy.upstream`), the endpoint's name in the path rewritten to the
   name the backend serves (``/v2/models/<endpoint>/infer``, ``/v1/models/<endpoint>:predict``; ``/invocations``
   as is), and returns the answer with ``X-Shipyard-Model-Version: <model>/<version>``
   (who answered) and ``X-Shipyard-Endpoint``;
3. after the answer is sent, mirrors the request to each shadow target whose sample rate
   draws it, as a background task, at most ``max_shadow_inflight`` at a time (beyond that
   the copy is dropped and counted). A shadow's answer is compared with the one returned
   (outputs equal or not), counted and passed to ``on_shadow``; it is never returned and
   never waited for.

It keeps Prometheus metrics per version (``/metrics``) and, for the canary judge, a window
of recent samples per version (:meth:`Gateway.samples`: ``error`` 0/1 and ``latency_ms``),
the input :func:`shipyard.deploy.analysis.analyse` takes. :meth:`Gateway.update` swaps the
routing table atomically (a rollback is one call). ``GET /-/ready`` answers whether the
gateway has routes. The controller (:mod:`shipyard.deploy.controller`) starts the backends and calls ``update``.

=============================================  =========  =================================
metric                                         type       labels
=============================================  =========  =================================
shipyard_gateway_requests_total                counter    endpoint, model, version, code
shipyard_gateway_request_duration_seconds      histogram  endpoint, model, version
shipyard_gateway_upstream_errors_total         counter    endpoint, model, version, reason
shipyard_gateway_shadow_requests_total         counter    endpoint, model, version, result
shipyard_gateway_shadow_dropped_total          counter    endpoint, model, version
shipyard_gateway_shadow_inflight               gauge      endpoint
=============================================  =========  =================================

``code`` is the HTTP status (502/504 when the backend could not be reached / timed out);
``reason`` is ``connect``, ``timeout`` or ``protocol``; a shadow's ``result`` is ``match``,
``mismatch`` or ``error``.
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import json
import os
import random
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import Receive, Scope, Send

from shipyard.deploy.upstream import Upstream, UpstreamError
from shipyard.logging import get_logger

log = get_logger("shipyard.gateway")

ROUTING_KEY = b"x-routing-key"
VERSION_HEADER = b"x-shipyard-model-version"
ENDPOINT_HEADER = b"x-shipyard-endpoint"
# Connection-level headers a proxy must not forward (RFC 9110 §7.6.1), plus the ones it recomputes.
_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"content-length",
    }
)
_DROP_REPLY = _HOP | {VERSION_HEADER, ENDPOINT_HEADER, b"date", b"server"}
_IGNORED_IN_COMPARISON = frozenset({"id", "model_name", "model_version"})
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass(frozen=True)
class Backend:
    """A model server answering for one version."""

    model: str
    version: int
    url: str  # base URL, e.g. http://127.0.0.1:8081
    served_name: str = ""  # the name the server serves it under (default: ``model``)

    @property
    def label(self) -> str:
        return f"{self.model}/{self.version}"

    @property
    def name_on_server(self) -> str:
        return self.served_name or self.model


@dataclass(frozen=True)
class Shadow:
    backend: Backend
    sample_rate: float


@dataclass(frozen=True)
class GatewayConfig:
    endpoint: str
    routes: Sequence[tuple[Backend, float]]  # (backend, weight in percent)
    shadows: Sequence[Shadow] = ()


@dataclass(frozen=True)
class ShadowResult:
    """One mirrored request: what the shadow answered next to what the caller got."""

    request_id: str
    primary: str
    shadow: str
    status: int | None  # None: no answer (connection error, timeout)
    latency_ms: float
    result: str  # match, mismatch, error
    primary_body: bytes
    shadow_body: bytes


class _Table:
    """Cumulative weights for one config, immutable (swapped whole on update)."""

    def __init__(self, config: GatewayConfig) -> None:
        routes = [(b, w) for b, w in config.routes if w > 0]
        total = sum(w for _, w in routes)
        self.config = config
        self.backends = [b for b, _ in routes]
        self.bounds: list[float] = []
        acc = 0.0
        for _, w in routes:
            acc += w / total
            self.bounds.append(acc)
        if self.bounds:
            self.bounds[-1] = 1.0

    def pick(self, fraction: float) -> Backend:
        return self.backends[min(bisect.bisect_right(self.bounds, fraction), len(self.backends) - 1)]


def key_fraction(key: bytes) -> float:
    """A routing key's fixed place in [0, 1)."""
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") / 2.0**64


def rewrite_path(path: str, endpoint: str, backend: Backend) -> str:
    """The endpoint's name in a protocol path → the name the backend serves; a v2
    ``/versions/<v>`` segment is dropped (the gateway picks the version)."""
    parts = path.split("/")
    served = backend.name_on_server
    if len(parts) > 3 and parts[1] == "v2" and parts[2] == "models" and parts[3] == endpoint:
        parts[3] = served
        if len(parts) > 5 and parts[4] == "versions":
            del parts[4:6]
    elif len(parts) > 3 and parts[1] == "v1" and parts[2] == "models":
        name = parts[3]
        if name == endpoint or name.startswith(endpoint + ":"):
            parts[3] = served + name[len(endpoint) :]
    return "/".join(parts)


def same_outputs(a: bytes, b: bytes) -> bool:
    """Two JSON answers carry the same outputs (ids and model names aside)."""
    try:
        left, right = json.loads(a), json.loads(b)
    except ValueError:
        return a == b
    if isinstance(left, dict) and isinstance(right, dict):
        left = {k: v for k, v in left.items() if k not in _IGNORED_IN_COMPARISON}
        right = {k: v for k, v in right.items() if k not in _IGNORED_IN_COMPARISON}
    return bool(left == right)


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["endpoint", "model", "version"]
        self.registry = registry
        self.requests = Counter(
            "shipyard_gateway_requests",
            "Requests answered, by version and status.",
            [*labels, "code"],
            registry=registry,
        )
        self.duration = Histogram(
            "shipyard_gateway_request_duration_seconds",
            "Time from the request's body read to the backend's answer.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.upstream_errors = Counter(
            "shipyard_gateway_upstream_errors",
            "Backends that could not answer (connect, timeout, protocol).",
            [*labels, "reason"],
            registry=registry,
        )
        self.shadow = Counter(
            "shipyard_gateway_shadow_requests",
            "Mirrored requests by result (match, mismatch, error).",
            [*labels, "result"],
            registry=registry,
        )
        self.shadow_dropped = Counter(
            "shipyard_gateway_shadow_dropped",
            "Mirrored requests dropped because max_shadow_inflight were already running.",
            labels,
            registry=registry,
        )
        self.shadow_inflight = Gauge(
            "shipyard_gateway_shadow_inflight", "Mirrored requests in flight.", ["endpoint"], registry=registry
        )


@dataclass
class _Window:
    """The latest samples of one version: (monotonic time, error 0/1, latency in ms)."""

    samples: deque[tuple[float, float, float]] = field(default_factory=lambda: deque(maxlen=10_000))


class Gateway:
    """An ASGI app routing one endpoint's traffic (see the module docstring)."""

    def __init__(
        self,
        config: GatewayConfig,
        *,
        timeout_s: float = 60.0,
        max_body_bytes: int = 64 * 1024 * 1024,
        max_shadow_inflight: int = 64,
        max_connections: int = 256,
        window: int = 10_000,
        on_shadow: Callable[[ShadowResult], None] | None = None,
        registry: CollectorRegistry | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._table = _Table(config)
        self.timeout_s = timeout_s
        self.max_body_bytes = max_body_bytes
        self.max_shadow_inflight = max_shadow_inflight
        self.max_connections = max_connections
        self.on_shadow = on_shadow
        self.metrics = GatewayMetrics(registry or CollectorRegistry())
        self._rng = rng or random.Random()
        self._window = window
        self._windows: dict[str, _Window] = {}
        self._upstream = Upstream(max_connections=max_connections, timeout_s=timeout_s)
        # metric children by (backend, status): ``labels()`` takes a lock and builds a key each call
        self._children: dict[tuple[str, Backend, int], tuple[Counter, Histogram]] = {}
        self._shadow_tasks: set[asyncio.Task[None]] = set()

    # -- configuration --------------------------------------------------------------
    @property
    def config(self) -> GatewayConfig:
        return self._table.config

    def update(self, config: GatewayConfig) -> None:
        """Route by ``config`` from the next request on (requests in flight finish where they are)."""
        self._table = _Table(config)

    def samples(self, label: str, since: float | None = None) -> dict[str, list[float]]:
        """Recent samples of version ``label`` (``model/version``) for the canary judge:
        ``error`` (1.0 for a 5xx or no answer) and ``latency_ms``, those taken at or after
        ``since`` (a :func:`time.monotonic` instant) if given. Mirrored (shadow) calls count
        for the version that answered them."""
        window = self._windows.get(label)
        taken = list(window.samples) if window is not None else []  # one C-level copy: safe from another thread
        picked = [s for s in taken if since is None or s[0] >= since]
        return {"error": [s[1] for s in picked], "latency_ms": [s[2] for s in picked]}

    def _sample(self, label: str, status: int | None, seconds: float) -> None:
        window = self._windows.get(label)
        if window is None:
            window = self._windows[label] = _Window(deque(maxlen=self._window))
        failed = status is None or status >= 500
        window.samples.append((time.monotonic(), 1.0 if failed else 0.0, seconds * 1000.0))

    def _observe(self, backend: Backend, status: int, seconds: float) -> None:
        endpoint = self._table.config.endpoint
        key = (endpoint, backend, status)
        children = self._children.get(key)
        if children is None:
            version = str(backend.version)
            children = self._children[key] = (
                self.metrics.requests.labels(endpoint, backend.model, version, str(status)),
                self.metrics.duration.labels(endpoint, backend.model, version),
            )
        children[0].inc()
        children[1].observe(seconds)
        self._sample(backend.label, status, seconds)

    # -- lifecycle ------------------------------------------------------------------
    async def aclose(self) -> None:
        for task in list(self._shadow_tasks):
            task.cancel()
        if self._shadow_tasks:
            await asyncio.gather(*self._shadow_tasks, return_exceptions=True)
        await self._upstream.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._handle(scope, receive, send)
        elif scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    # -- requests -------------------------------------------------------------------
    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if path == "/metrics":
            await _reply(send, 200, generate_latest(self.metrics.registry), CONTENT_TYPE_LATEST.encode())
            return
        table = self._table
        if path == "/-/ready":
            ready = bool(table.backends)
            await _reply(send, 200 if ready else 503, json.dumps({"ready": ready}).encode())
            return
        if not table.backends:
            await _reply(send, 503, _error_body(path, "the endpoint has no routes"))
            return
        headers: dict[bytes, bytes] = {}
        for name, value in scope.get("headers") or ():
            headers[name.lower()] = value
        body = await _read_body(receive, self.max_body_bytes)
        if body is None:
            await _reply(send, 413, _error_body(path, f"request body exceeds {self.max_body_bytes} bytes"))
            return
        key = headers.get(ROUTING_KEY)
        backend = table.pick(key_fraction(key) if key else self._rng.random())
        request_id = headers.get(b"x-request-id") or os.urandom(16).hex().encode()
        forward = [(k, v) for k, v in headers.items() if k not in _HOP and k != b"x-request-id"]
        forward.append((b"x-request-id", request_id))
        query = scope.get("query_string") or b""
        target = rewrite_path(path, table.config.endpoint, backend)
        if query:
            target += "?" + query.decode("latin-1")
        method: str = scope["method"]
        started = time.perf_counter()
        try:
            upstream = await self._upstream.request(method, backend.url, target, forward, body)
        except UpstreamError as exc:
            await self._failed(send, backend, path, 504 if exc.reason == "timeout" else 502, exc.reason, started)
            return
        reply = [(k, v) for k, v in upstream.headers if k not in _DROP_REPLY]
        reply.append((VERSION_HEADER, backend.label.encode()))
        reply.append((ENDPOINT_HEADER, table.config.endpoint.encode()))
        content = upstream.body
        await _reply(send, upstream.status, content, headers=reply)
        self._observe(backend, upstream.status, time.perf_counter() - started)
        if table.config.shadows and method == "POST":
            self._mirror(table, method, path, query, forward, body, backend, content, request_id.decode("latin-1"))

    async def _failed(self, send: Send, backend: Backend, path: str, status: int, reason: str, started: float) -> None:
        endpoint = self._table.config.endpoint
        self.metrics.upstream_errors.labels(endpoint, backend.model, str(backend.version), reason).inc()
        message = f"version {backend.label} of endpoint '{endpoint}' did not answer ({reason})"
        headers = [(VERSION_HEADER, backend.label.encode()), (ENDPOINT_HEADER, endpoint.encode())]
        await _reply(send, status, _error_body(path, message), headers=headers)
        self._observe(backend, status, time.perf_counter() - started)

    # -- shadows --------------------------------------------------------------------
    def _mirror(
        self,
        table: _Table,
        method: str,
        path: str,
        query: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        primary: Backend,
        primary_body: bytes,
        request_id: str,
    ) -> None:
        endpoint = table.config.endpoint
        for shadow in table.config.shadows:
            if shadow.sample_rate < 1.0 and self._rng.random() >= shadow.sample_rate:
                continue
            target = shadow.backend
            if len(self._shadow_tasks) >= self.max_shadow_inflight:
                self.metrics.shadow_dropped.labels(endpoint, target.model, str(target.version)).inc()
                continue
            where = rewrite_path(path, endpoint, target)
            if query:
                where += "?" + query.decode("latin-1")
            task = asyncio.get_running_loop().create_task(
                self._shadow_call(endpoint, method, where, headers, body, primary, target, primary_body, request_id)
            )
            self._shadow_tasks.add(task)
            self.metrics.shadow_inflight.labels(endpoint).set(len(self._shadow_tasks))
            task.add_done_callback(self._shadow_done)

    def _shadow_done(self, task: asyncio.Task[None]) -> None:
        self._shadow_tasks.discard(task)
        self.metrics.shadow_inflight.labels(self._table.config.endpoint).set(len(self._shadow_tasks))

    async def _shadow_call(
        self,
        endpoint: str,
        method: str,
        where: str,  # path and query on the target
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        primary: Backend,
        target: Backend,
        primary_body: bytes,
        request_id: str,
    ) -> None:
        started = time.perf_counter()
        status: int | None = None
        answer = b""
        try:
            response = await self._upstream.request(method, target.url, where, headers, body)
            status, answer = response.status, response.body
            result = "match" if status < 400 and same_outputs(primary_body, answer) else "mismatch"
            if status >= 400:
                result = "error"
        except UpstreamError:
            result = "error"
        latency_ms = (time.perf_counter() - started) * 1000.0
        self.metrics.shadow.labels(endpoint, target.model, str(target.version), result).inc()
        self._sample(target.label, status, latency_ms / 1000.0)
        if self.on_shadow is not None:
            outcome = ShadowResult(
                request_id, primary.label, target.label, status, latency_ms, result, primary_body, answer
            )
            try:
                self.on_shadow(outcome)
            except Exception:  # a logging hook must never break the gateway
                log.error("shadow hook failed", endpoint=endpoint, exc_info=True)


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b""
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _error_body(path: str, message: str) -> bytes:
    if path.rstrip("/") == "/invocations":
        return json.dumps({"error_code": "SERVICE_UNAVAILABLE", "message": message}).encode()
    return json.dumps({"error": message}).encode()


async def _reply(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes = b"application/json",
    headers: Sequence[tuple[bytes, bytes]] | None = None,
) -> None:
    extra = list(headers) if headers is not None else [(b"content-type", content_type)]
    if headers is not None and not any(k.lower() == b"content-type" for k, _ in extra):
        extra.append((b"content-type", content_type))
    extra.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": extra})
    await send({"type": "http.response.body", "body": body})


def config_for(
    endpoint: str,
    traffic: Sequence[Mapping[str, Any]],
    shadows: Sequence[Mapping[str, Any]],
    urls: Mapping[str, str],
) -> GatewayConfig:
    """A config from an endpoint's traffic and shadow lists (``{model, version, weight |
    sample_rate}``) and the URL serving each ``model/version``."""

    def backend(item: Mapping[str, Any]) -> Backend:
        label = f"{item['model']}/{item['version']}"
        return Backend(model=item["model"], version=int(item["version"]), url=urls[label])

    return GatewayConfig(
        endpoint=endpoint,
        routes=[(backend(t), float(t["weight"])) for t in traffic],
        shadows=[Shadow(backend(s), float(s.get("sample_rate", 1.0))) for s in shadows],
    )


__all__ = [
    "Backend",
    "Gateway",
    "GatewayConfig",
    "GatewayMetrics",
    "Shadow",
    "ShadowResult",
    "config_for",
    "key_fraction",
    "rewrite_path",
    "same_outputs",
]
