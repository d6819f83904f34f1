"""Overload, deadlines and readiness: 429 with Retry-After and a bounded queue, 504 for
expired requests (dropped before compute), 503 until every model is loaded."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import httpx

from shipyard.models import LoadedModel, load_model, save_model
from shipyard.models.signature import ModelSignature, TensorSpec
from shipyard.serving import ServedModel, ServingSettings
from tests.serving.conftest import doubler, live, metric_samples, serving, v2_columns, v2_tensor, wait_ready
from tests.serving.toy_models import Gated

ROW = [[1.0, 2.0]]


def _rejected(url: str, reason: str) -> float:
    return sum(s.value for s in metric_samples(url, "shipyard_rejected_requests_total") if s.labels["reason"] == reason)


def test_a_full_queue_answers_429_at_once_and_stays_bounded(tmp_path: Path) -> None:
    """The 429s come back while the model is still blocked: refused on arrival, not after
    waiting for the queue (no wall-clock threshold: the test holds the model's gate)."""
    settings = ServingSettings(max_queue=4, max_batch_size=1)
    signature = ModelSignature(inputs=[TensorSpec(type="float64", shape=[-1, 2])])
    save_model(Gated(), tmp_path / "gated", signature=signature)
    served = ServedModel(name="gated", version="1", model=load_model(tmp_path / "gated"))

    async def scenario(url: str, model: Gated, runtime: Any) -> tuple[list[httpx.Response], list[httpx.Response], bool]:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:

            def infer(i: int) -> Awaitable[httpx.Response]:
                return client.post("/v2/models/gated/infer", json=v2_tensor([[float(i), 0.0]]))

            first = asyncio.ensure_future(infer(0))
            assert await asyncio.to_thread(model.entered.wait, 30), "the first request never reached the model"
            queued = [asyncio.ensure_future(infer(i)) for i in range(1, 5)]
            while runtime.batcher.depth < 4:  # the queue fills up behind the blocked model
                await asyncio.sleep(0.005)
            refused = list(await asyncio.gather(*(infer(i) for i in range(5, 13))))
            still_blocked = not model.release.is_set() and model.calls == 0 and not first.done()
            model.release.set()
            answered = list(await asyncio.gather(first, *queued))
            return answered, refused, still_blocked

    with serving([served], settings) as (url, app):
        runtime = app.dataplane.runtime("gated")
        model = live(app, "gated")
        answered, refused, still_blocked = asyncio.run(scenario(url, model, runtime))
        assert still_blocked  # every 429 arrived while the model was still busy with the first request
        assert [reply.status_code for reply in refused] == [429] * 8
        for reply in refused:
            assert int(reply.headers["retry-after"]) >= 1
            assert "max_queue 4" in reply.json()["error"]
        assert [reply.status_code for reply in answered] == [200] * 5
        assert [reply.json()["outputs"][0]["data"] for reply in answered] == [[float(2 * i)] for i in range(5)]
        assert runtime.batcher.peak_queue == 4
        assert runtime.batcher.depth == 0
        assert model.calls == 5
        assert _rejected(url, "queue_full") == 8
        assert [s.value for s in metric_samples(url, "shipyard_queued_requests")] == [0.0]
        assert [s.value for s in metric_samples(url, "shipyard_inflight_requests")] == [0.0]


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
