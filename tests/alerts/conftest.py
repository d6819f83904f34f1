"""Loopback servers for alerting tests: a webhook receiver that fails its first N
requests, and a Prometheus ``/metrics`` page over real gateway metrics."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from starlette.types import Receive, Scope, Send

from shipyard.demo.background_server import serve_in_thread
from shipyard.deploy.gateway import GatewayMetrics

TOKEN = "T0KEN-s3cr3t-abcdef"  # the secret part of every receiver URL in these tests


async def lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


@dataclass
class Received:
    at: float
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """Answers ``fail_status`` to its first ``fail_first`` requests, then 200."""

    fail_first: int = 0
    fail_status: int = 503
    headers_on_fail: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        with self.lock:
            self.received.append(Received(time.monotonic(), scope["path"], headers, body))
            failing = len(self.received) <= self.fail_first
        status = self.fail_status if failing else 200
        extra = [(k.encode(), v.encode()) for k, v in self.headers_on_fail.items()] if failing else []
        await send({"type": "http.response.start", "status": status, "headers": extra})
        await send({"type": "http.response.body", "body": b"nope" if failing else b"ok"})

    @property
    def hook_url(self) -> str:
        return f"{self.url}/hooks/{TOKEN}?key={TOKEN}"


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    with serve_in_thread(receiver) as url:
        receiver.url = url
        yield receiver


@dataclass
class MetricsPage:
    """A gateway's metrics on a real prometheus registry, served as ``/metrics``."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    url: str = ""

    def __post_init__(self) -> None:
        self.metrics = GatewayMetrics(self.registry)

    def serve(self, endpoint: str, ok: int, errors: int, seconds: float = 0.02) -> None:
        for code, n in (("200", ok), ("503", errors)):
            if n:
                self.metrics.requests.labels(endpoint, "m", "1", code).inc(n)
                for _ in range(n):
                    self.metrics.duration.labels(endpoint, "m", "1").observe(seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        body = generate_latest(self.registry)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": body})


@pytest.fixture
def metrics_page() -> Iterator[MetricsPage]:
    page = MetricsPage()
    with serve_in_thread(page) as url:
        page.url = url
        yield page
