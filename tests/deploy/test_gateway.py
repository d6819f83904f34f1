"""The gateway on loopback in front of real data-plane servers (in-process, uvicorn)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator, MutableMapping
from typing import Any, cast

import httpx
import numpy as np
import pytest

from shipyard.demo.background_server import serve_in_thread
from shipyard.deploy.gateway import (
    Backend,
    Gateway,
    GatewayConfig,
    Shadow,
    ShadowResult,
    config_for,
    key_fraction,
    rewrite_path,
    same_outputs,
)
from shipyard.models import load_model, save_model
from shipyard.serving import ServedModel, create_serving_app
from tests.serving.toy_models import Doubler

ROW = [1.0, 2.0, 3.0, 4.0]


@pytest.fixture(scope="module")
def backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """Two data-plane servers, one model each (``a`` and ``b``, both doubling the first column)."""
    directory = tmp_path_factory.mktemp("gateway") / "doubler"
    save_model(Doubler(), directory, input_example=np.array([ROW]))
    apps = [create_serving_app([ServedModel(name=n, version="1", model=load_model(directory))]) for n in ("a", "b")]
    with serve_in_thread(cast(Any, apps[0])) as url_a, serve_in_thread(cast(Any, apps[1])) as url_b:
        for url in (url_a, url_b):
            deadline = time.monotonic() + 30
            while httpx.get(f"{url}/v2/health/ready").status_code != 200:
                assert time.monotonic() < deadline
                time.sleep(0.02)
        yield url_a, url_b


def two_versions(urls: tuple[str, str], w1: float, w2: float, shadows: list[Shadow] | None = None) -> GatewayConfig:
    return GatewayConfig(
        endpoint="iris",
        routes=[(Backend("iris", 1, urls[0], "a"), w1), (Backend("iris", 2, urls[1], "b"), w2)],
        shadows=shadows or [],
    )


def test_routes_by_weight_tags_the_version_and_speaks_every_protocol(backends: tuple[str, str]) -> None:
    gateway = Gateway(two_versions(backends, 70, 30))
    with serve_in_thread(cast(Any, gateway)) as url, httpx.Client(base_url=url) as http:
        seen: Counter[str] = Counter()
        for _ in range(200):
            r = http.post("/invocations", json={"inputs": [ROW]})
            assert r.status_code == 200, r.text
            assert r.headers["x-shipyard-endpoint"] == "iris"
            seen[r.headers["x-shipyard-model-version"]] += 1
        assert set(seen) == {"iris/1", "iris/2"}
        assert 100 < seen["iris/1"] < 180  # 70 % of 200, loosely
        v1 = http.post("/v1/models/iris:predict", json={"instances": [ROW]})
        assert v1.status_code == 200, v1.text
        assert v1.json()["predictions"] == [2.0]
        meta = http.get("/v2/models/iris")
        assert meta.status_code == 200, meta.text
        assert meta.json()["name"] in ("a", "b")
        assert "x-request-id" in v1.headers
        metrics = http.get("/metrics").text
        assert 'shipyard_gateway_requests_total{code="200",endpoint="iris",model="iris",version="1"}' in metrics
        assert http.get("/-/ready").json() == {"ready": True}
    samples = gateway.samples("iris/2")
    assert len(samples["latency_ms"]) == len(samples["error"]) >= seen["iris/2"]
    assert set(samples["error"]) == {0.0}


def test_a_routing_key_is_sticky_and_update_swaps_the_split(backends: tuple[str, str]) -> None:
    gateway = Gateway(two_versions(backends, 50, 50))
    with serve_in_thread(cast(Any, gateway)) as url, httpx.Client(base_url=url) as http:

        def answer(key: str) -> str:
            r = http.post("/invocations", json={"inputs": [ROW]}, headers={"X-Routing-Key": key})
            return r.headers["x-shipyard-model-version"]

        keys = [f"user-{i}" for i in range(40)]
        first = {k: answer(k) for k in keys}
        assert {k: answer(k) for k in keys} == first
        assert set(first.values()) == {"iris/1", "iris/2"}
        gateway.update(two_versions(backends, 100, 0))  # a rollback is one swap
        assert {answer(k) for k in keys} == {"iris/1"}


def test_shadow_traffic_is_mirrored_compared_and_never_returned(backends: tuple[str, str]) -> None:
    backend_url = backends[1]
    results: list[ShadowResult] = []
    shadow = Shadow(Backend("iris", 3, backend_url, "b"), 1.0)
    broken = Shadow(Backend("iris", 4, "http://127.0.0.1:9", "b"), 1.0)  # nothing listens on port 9
    gateway = Gateway(two_versions(backends, 100, 0, [shadow, broken]), on_shadow=results.append)
    with serve_in_thread(cast(Any, gateway)) as url, httpx.Client(base_url=url) as http:
        for _ in range(5):
            r = http.post("/invocations", json={"inputs": [ROW]})
            assert r.headers["x-shipyard-model-version"] == "iris/1"
        deadline = time.monotonic() + 10
        while len(results) < 10 and time.monotonic() < deadline:
            time.sleep(0.02)
        metrics = http.get("/metrics").text
    by_shadow = Counter((r.shadow, r.result) for r in results)
    assert by_shadow == {("iris/3", "match"): 5, ("iris/4", "error"): 5}
    assert all(r.primary == "iris/1" for r in results)
    assert 'result="match",version="3"' in metrics


def test_a_saturated_shadow_is_dropped_and_counted(backends: tuple[str, str]) -> None:
    backend_url = backends[1]
    shadow = Shadow(Backend("iris", 3, backend_url, "b"), 1.0)
    gateway = Gateway(two_versions(backends, 100, 0, [shadow]), max_shadow_inflight=0)
    with serve_in_thread(cast(Any, gateway)) as url, httpx.Client(base_url=url) as http:
        for _ in range(3):
            assert http.post("/invocations", json={"inputs": [ROW]}).status_code == 200
        metrics = http.get("/metrics").text
    assert 'shipyard_gateway_shadow_dropped_total{endpoint="iris",model="iris",version="3"} 3.0' in metrics


def test_an_unreachable_backend_is_a_502_tagged_with_its_version() -> None:
    gateway = Gateway(GatewayConfig("iris", [(Backend("iris", 1, "http://127.0.0.1:9"), 100)]))
    with serve_in_thread(cast(Any, gateway)) as url:
        r = httpx.post(f"{url}/v2/models/iris/infer", json={})
        assert r.status_code == 502
        assert r.headers["x-shipyard-model-version"] == "iris/1"
        assert "did not answer (connect)" in r.json()["error"]
        assert gateway.samples("iris/1")["error"] == [1.0]


def test_no_routes_is_not_ready() -> None:
    async def call() -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(dict(message))

        gateway = Gateway(GatewayConfig("iris", []))
        await gateway({"type": "http", "path": "/-/ready", "method": "GET", "headers": []}, receive, send)
        await gateway({"type": "http", "path": "/invocations", "method": "POST", "headers": []}, receive, send)
        await gateway.aclose()
        return sent

    sent = asyncio.run(call())
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [503, 503]


def test_units() -> None:
    b = Backend("iris", 3, "http://x", "iris-v3")
    assert rewrite_path("/v2/models/iris/versions/7/infer", "iris", b) == "/v2/models/iris-v3/infer"
    assert rewrite_path("/v2/models/iris/ready", "iris", b) == "/v2/models/iris-v3/ready"
    assert rewrite_path("/v1/models/iris:predict", "iris", b) == "/v1/models/iris-v3:predict"
    assert rewrite_path("/v2/models/other/infer", "iris", b) == "/v2/models/other/infer"
    assert rewrite_path("/invocations", "iris", b) == "/invocations"
    assert 0 <= key_fraction(b"k") < 1
    assert key_fraction(b"k") == key_fraction(b"k")
    assert same_outputs(b'{"model_name": "a", "outputs": [1]}', b'{"model_name": "b", "outputs": [1]}')
    assert not same_outputs(b'{"outputs": [1]}', b'{"outputs": [2]}')
    assert same_outputs(b"x", b"x")
    assert not same_outputs(b"x", b"y")
    config = config_for(
        "iris",
        [{"model": "iris", "version": 1, "weight": 90.0}, {"model": "iris", "version": 2, "weight": 10.0}],
        [{"model": "iris", "version": 3, "sample_rate": 0.5}],
        {"iris/1": "http://a", "iris/2": "http://b", "iris/3": "http://c"},
    )
    assert [(r[0].label, r[1]) for r in config.routes] == [("iris/1", 90.0), ("iris/2", 10.0)]
    assert config.shadows[0].backend.url == "http://c"


async def _odd_backend(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """``/slow`` answers after 2 s; anything else in three parts without a length (chunked)."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["path"].endswith("/slow"):
        await asyncio.sleep(2)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    for part in (b'{"outputs":', b" [1, 2", b"]}"):
        await send({"type": "http.response.body", "body": part, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def test_timeouts_oversize_bodies_and_chunked_answers() -> None:
    with serve_in_thread(cast(Any, _odd_backend)) as backend:
        config = GatewayConfig("iris", [(Backend("iris", 1, backend), 100)])
        gateway = Gateway(config, timeout_s=0.3, max_body_bytes=100)
        with serve_in_thread(cast(Any, gateway)) as url, httpx.Client(base_url=url) as http:
            chunked = http.post("/invocations", content=b"{}")
            assert chunked.status_code == 200
            assert chunked.content == b'{"outputs": [1, 2]}'
            assert chunked.headers["content-length"] == str(len(chunked.content))
            assert "transfer-encoding" not in chunked.headers
            slow = http.post("/slow", content=b"{}")
            assert slow.status_code == 504
            assert slow.headers["x-shipyard-model-version"] == "iris/1"
            assert "did not answer (timeout)" in slow.json()["error"]
            assert http.post("/invocations", content=b"x" * 101).status_code == 413
            assert http.post("/invocations", content=b"{}").status_code == 200  # the timed-out connection is gone
            metrics = http.get("/metrics").text
    assert gateway.samples("iris/1")["error"] == [0.0, 1.0, 0.0]
    assert (
        'shipyard_gateway_upstream_errors_total{endpoint="iris",model="iris",reason="timeout",version="1"} 1.0'
        in metrics
    )
    assert 'shipyard_gateway_requests_total{code="504",endpoint="iris",model="iris",version="1"} 1.0' in metrics
