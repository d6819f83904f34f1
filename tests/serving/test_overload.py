"""Overload, deadlines and readiness: 429 with Retry-After and a bounded queue, 504 for
expired requests (dropped before compute), 503 until every model is loaded."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from shipyard.models import LoadedModel, load_model
from shipyard.serving import ServedModel, ServingSettings
from tests.serving.conftest import doubler, live, metric_samples, serving, v2_columns, v2_tensor, wait_ready

ROW = [[1.0, 2.0]]


def _rejected(url: str, reason: str) -> float:
    return sum(s.value for s in metric_samples(url, "shipyard_rejected_requests_total") if s.labels["reason"] == reason)


def test_a_full_queue_answers_429_at_once_and_stays_bounded(tmp_path: Path) -> None:
    settings = ServingSettings(max_queue=4, max_batch_size=1)

    async def burst(url: str) -> list[tuple[httpx.Response, float]]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:

            async def one(i: int) -> tuple[httpx.Response, float]:
                started = time.perf_counter()
                reply = await client.post("/v2/models/doubler/infer", json=v2_tensor([[float(i), 0.0]]))
                return reply, time.perf_counter() - started

            return list(await asyncio.gather(*(one(i) for i in range(24))))

    with serving([doubler(tmp_path, delay_s=0.15)], settings) as (url, app):
        results = asyncio.run(burst(url))
        statuses = sorted(reply.status_code for reply, _ in results)
        assert set(statuses) == {200, 429}
        refused = [(reply, seconds) for reply, seconds in results if reply.status_code == 429]
        assert len(refused) >= 12
        for reply, seconds in refused:
            assert int(reply.headers["retry-after"]) >= 1
            assert "max_queue 4" in reply.json()["error"]
            assert seconds < 0.15 * 4  # refused at once, not after waiting for the queue
        runtime = app.dataplane.runtime("doubler")
        assert runtime.batcher.peak_queue <= 4
        assert runtime.batcher.depth == 0
        assert live(app, "doubler").calls == statuses.count(200)
        assert _rejected(url, "queue_full") == len(refused)
        queued = metric_samples(url, "shipyard_queued_requests")
        assert [s.value for s in queued] == [0.0]
        inflight = metric_samples(url, "shipyard_inflight_requests")
        assert [s.value for s in inflight] == [0.0]


def test_a_slow_answer_is_a_504_at_the_callers_deadline(tmp_path: Path) -> None:
    with serving([doubler(tmp_path, delay_s=0.6)]) as (url, _app):
        started = time.perf_counter()
        reply = httpx.post(
            f"{url}/v2/models/doubler/infer", json=v2_tensor(ROW), headers={"x-request-timeout-ms": "100"}
        )
        assert reply.status_code == 504, reply.text
        assert "deadline" in reply.json()["error"]
        assert time.perf_counter() - started < 0.5
        assert _rejected(url, "deadline") == 1


def test_expired_requests_are_dropped_before_compute(tmp_path: Path) -> None:
    async def scenario(url: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            first = asyncio.ensure_future(client.post("/v2/models/doubler/infer", json=v2_tensor(ROW)))
            await asyncio.sleep(0.1)  # the first is computing now; the next ones queue behind it
            by_header = client.post(
                "/v2/models/doubler/infer", json=v2_tensor(ROW), headers={"x-request-timeout-ms": "50"}
            )
            by_parameter = client.post(
                "/v2/models/doubler/infer", json={**v2_tensor(ROW), "parameters": {"timeout_ms": 50}}
            )
            by_v1 = client.post(
                "/v1/models/doubler:predict", json={"instances": ROW}, headers={"x-request-timeout-ms": "50"}
            )
            return list(await asyncio.gather(first, by_header, by_parameter, by_v1))

    with serving([doubler(tmp_path, delay_s=0.4)], ServingSettings(max_batch_size=1)) as (url, app):
        first, *late = asyncio.run(scenario(url))
        assert first.status_code == 200
        assert [r.status_code for r in late] == [504, 504, 504]
        time.sleep(0.1)
        assert live(app, "doubler").calls == 1  # the expired ones never reached the model


def test_a_caller_cannot_raise_the_server_deadline(tmp_path: Path) -> None:
    with serving([doubler(tmp_path, delay_s=0.6)], ServingSettings(timeout_s=0.2)) as (url, _app):
        started = time.perf_counter()
        reply = httpx.post(
            f"{url}/v2/models/doubler/infer",
            json={**v2_tensor(ROW), "parameters": {"timeout_ms": 60_000}},
            headers={"x-request-timeout-ms": "60000"},
        )
        assert reply.status_code == 504
        assert time.perf_counter() - started < 0.55


def test_not_ready_until_every_model_is_loaded(model_dirs: dict[str, Path]) -> None:
    gate = threading.Event()
    loads: list[float] = []

    def slow_load() -> LoadedModel:
        gate.wait(timeout=30)
        loads.append(time.monotonic())
        return load_model(model_dirs["sklearn"])

    models = [
        ServedModel.from_path(model_dirs["pyfunc"], name="fast"),
        ServedModel(name="slow", version="2", loader=slow_load),
    ]
    with serving(models, ready=False) as (url, _app), httpx.Client(base_url=url) as client:
        assert client.get("/v2/health/live").json() == {"live": True}
        ready = client.get("/v2/health/ready")
        assert (ready.status_code, ready.json()) == (503, {"ready": False})
        model_ready = client.get("/v2/models/slow/ready")
        assert (model_ready.status_code, model_ready.json()) == (503, {"name": "slow", "ready": False})
        infer = client.post("/v2/models/slow/infer", json=v2_columns([[5.1, 3.5, 1.4, 0.2]]))
        assert infer.status_code == 503
        assert "still loading" in infer.json()["error"]
        assert infer.headers["retry-after"] == "1"
        assert infer.headers["x-shipyard-model-version"] == "slow/2"
        assert client.get("/v2/models/slow").status_code == 503
        assert client.get("/v1/models/slow").json() == {"name": "slow", "ready": False}
        mlflow = client.post("/invocations?model=slow", json={"instances": [[5.1, 3.5, 1.4, 0.2]]})
        assert (mlflow.status_code, mlflow.json()["error_code"]) == (503, "TEMPORARILY_UNAVAILABLE")
        assert client.get("/ping").status_code == 503
        assert _rejected(url, "not_ready") == 2
        gate.set()
        wait_ready(url)
        assert loads
        assert client.post("/v2/models/slow/infer", json=v2_columns([[5.1, 3.5, 1.4, 0.2]])).status_code == 200
        load = metric_samples(url, "shipyard_model_load_duration_seconds_count")
        assert sorted(s.labels["model"] for s in load) == ["fast", "slow"]


def test_a_model_that_fails_to_load_keeps_the_server_unready(tmp_path: Path) -> None:
    failures: list[Any] = []

    def broken() -> LoadedModel:
        return load_model(tmp_path / "missing")

    from shipyard.demo.background_server import serve_in_thread
    from shipyard.serving import create_serving_app

    app = create_serving_app([ServedModel(name="broken", loader=broken)], on_load_failure=failures.append)
    with serve_in_thread(app) as url:
        for _ in range(500):
            if failures:
                break
            time.sleep(0.01)
        assert [runtime.name for runtime in failures] == ["broken"]
        assert httpx.get(f"{url}/v2/health/ready").status_code == 503
        reply = httpx.post(f"{url}/v2/models/broken/infer", json=v2_tensor(ROW))
        assert reply.status_code == 503
        assert "failed to load" in reply.json()["error"]
