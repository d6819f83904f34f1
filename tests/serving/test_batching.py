"""Adaptive micro-batching: coalesced under concurrency, never for a lone caller, and the
answers are exactly the unbatched ones."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from shipyard.errors import ValidationFailed
from shipyard.models import save_model
from shipyard.serving import InferenceRequest, ServedModel, ServingSettings, create_serving_app
from tests.serving.conftest import Iris, doubler, live, metric_samples, serving, v2_tensor
from tests.serving.toy_models import Picky


def _batch_sizes(url: str) -> tuple[float, float, float]:
    """(calls of size 1, all calls, requests in all calls) from the batch-size histogram."""
    samples = metric_samples(url, "shipyard_batch_size_bucket")
    single = sum(s.value for s in samples if s.labels["le"] == "1.0")
    count = sum(s.value for s in metric_samples(url, "shipyard_batch_size_count"))
    total = sum(s.value for s in metric_samples(url, "shipyard_batch_size_sum"))
    return single, count, total


def test_concurrent_requests_coalesce_and_split_back(tmp_path: Path) -> None:
    rows = [[float(i), -1.0] for i in range(24)]

    async def burst(url: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            posts = (client.post("/v2/models/doubler/infer", json=v2_tensor([row])) for row in rows)
            return list(await asyncio.gather(*posts))

    with serving([doubler(tmp_path, delay_s=0.05)]) as (url, app):
        replies = asyncio.run(burst(url))
        assert [r.status_code for r in replies] == [200] * len(rows)
        assert [r.json()["outputs"][0]["data"] for r in replies] == [[2.0 * i] for i in range(len(rows))]
        model = live(app, "doubler")
        assert model.calls < len(rows)
        assert max(model.rows) > 1
        single, count, total = _batch_sizes(url)
        assert total == len(rows)
        assert count == model.calls
        assert single < count  # the histogram shows batches larger than one


def test_a_lone_caller_is_never_batched_nor_kept_waiting(tmp_path: Path) -> None:
    settings = ServingSettings(max_batch_wait_ms=200)  # a long window: a lone caller must not pay it
    with serving([doubler(tmp_path)], settings) as (url, _app), httpx.Client(base_url=url) as client:
        started = time.perf_counter()
        for i in range(10):
            reply = client.post("/v2/models/doubler/infer", json=v2_tensor([[float(i), 0.0]]))
            assert reply.json()["outputs"][0]["data"] == [2.0 * i]
        assert time.perf_counter() - started < 10 * 0.2  # no request waited out the window
        single, count, total = _batch_sizes(url)
        assert (single, count, total) == (10, 10, 10)


async def _started(app: Any) -> None:
    await app.start()
    for _ in range(3000):
        if app.dataplane.ready:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the models did not load")


def test_batched_answers_equal_unbatched_ones(model_dirs: dict[str, Path], loaded: dict[str, Any], iris: Iris) -> None:
    """In-process through the DataPlane: requests submitted together are coalesced (32 at
    most), mixed sizes and methods included, and each gets exactly its own rows' answer."""
    app = create_serving_app([ServedModel.from_path(model_dirs["sklearn"], name="iris")])
    sizes = [1, 2, 3] * 15
    starts = np.cumsum([0, *sizes])[:-1]
    requests = []
    for start, size in zip(starts, sizes, strict=True):
        frame = iris.frame.iloc[start : start + size]
        columns = {name: frame[name].to_numpy() for name in frame.columns}
        method = "predict_proba" if start % 2 else None
        requests.append((frame, method, InferenceRequest(data=columns, method=method)))

    async def run() -> list[Any]:
        await _started(app)
        try:
            results = await asyncio.gather(*(app.dataplane.infer("iris", None, r) for _, _, r in requests))
        finally:
            await app.stop()
        return [result.output for result in results]

    outputs = asyncio.run(run())
    reference = loaded["sklearn"]
    for (frame, method, _), output in zip(requests, outputs, strict=True):
        if method is None:
            assert np.array_equal(output, reference.predict(frame))
        else:
            assert np.allclose(output, reference.raw.predict_proba(frame), rtol=0, atol=1e-12)
    labels = {"model": "iris", "version": app.dataplane.runtime("iris").version}
    registry = app.metrics.registry
    assert registry.get_sample_value("shipyard_batch_size_sum", labels) == len(requests)  # all went through
    batches = registry.get_sample_value("shipyard_batch_size_count", labels)
    assert batches is not None
    assert batches < len(requests)


def test_one_bad_request_does_not_fail_its_batch(tmp_path: Path) -> None:
    save_model(Picky(), tmp_path / "picky", signature=None)
    app = create_serving_app([ServedModel.from_path(tmp_path / "picky", name="picky")])
    values = [1.0, 2.0, -3.0, 4.0, 5.0]

    async def run() -> list[Any]:
        await _started(app)
        try:
            calls = (app.dataplane.infer("picky", None, InferenceRequest(data=np.array([[v, 0.0]]))) for v in values)
            return list(await asyncio.gather(*calls, return_exceptions=True))
        finally:
            await app.stop()

    results = asyncio.run(run())
    for value, result in zip(values, results, strict=True):
        if value < 0:
            assert isinstance(result, ValidationFailed)
        else:
            assert result.output.tolist() == [value]


@pytest.mark.parametrize("max_batch_size", [1, 4])
def test_batches_never_exceed_max_batch_size(tmp_path: Path, max_batch_size: int) -> None:
    settings = ServingSettings(max_batch_size=max_batch_size)
    app = create_serving_app([doubler(tmp_path)], settings)

    async def run() -> None:
        await _started(app)
        try:
            requests = [InferenceRequest(data=np.array([[float(i), 0.0]])) for i in range(10)]
            results = await asyncio.gather(*(app.dataplane.infer("doubler", None, r) for r in requests))
            assert [r.output.tolist() for r in results] == [[2.0 * i] for i in range(10)]
        finally:
            await app.stop()

    asyncio.run(run())
    rows = live(app, "doubler").rows
    assert max(rows) == max_batch_size
    assert sum(rows) == 10


# --- inline dispatch: a fast model's calls run on the event loop -----------------------


def _calls_on_loop(
    settings: ServingSettings, model: ServedModel, plan: list[int], slow_after: int | None = None
) -> Any:
    """Run ``plan`` (requests sent together, round by round) through the DataPlane; returns
    the model's live object and the event loop's thread name. From round ``slow_after`` on
    the model sleeps 0.3 s per call."""
    app = create_serving_app([model], settings)

    async def run() -> str:
        await _started(app)
        try:
            for round_, size in enumerate(plan):
                if slow_after is not None and round_ == slow_after:
                    live(app, model.name).delay_s = 0.3
                requests = [InferenceRequest(data=np.array([[float(i), 0.0]])) for i in range(size)]
                results = await asyncio.gather(*(app.dataplane.infer(model.name, None, r) for r in requests))
                assert [r.output.tolist() for r in results] == [[2.0 * i] for i in range(size)]
            return threading.current_thread().name
        finally:
            await app.stop()

    loop_thread = asyncio.run(run())
    return live(app, model.name), loop_thread


def test_a_fast_model_runs_on_the_event_loop_once_measured_and_still_batches(tmp_path: Path) -> None:
    settings = ServingSettings(inline_compute_ms=50)  # generous: a busy CI machine must not flip the choice
    model, loop_thread = _calls_on_loop(settings, doubler(tmp_path), [1, 1, 1, 12, 12])
    assert model.threads[0] != loop_thread  # not measured yet: its own thread
    assert model.threads[1:] == [loop_thread] * (len(model.threads) - 1)
    assert max(model.rows) > 1  # requests sent together still share a call
    assert sum(model.rows) == 27


def test_a_slow_model_never_blocks_the_event_loop(tmp_path: Path) -> None:
    settings = ServingSettings(inline_compute_ms=5)
    model, loop_thread = _calls_on_loop(settings, doubler(tmp_path, delay_s=0.02), [1, 1, 4])
    assert model.calls >= 3
    assert loop_thread not in model.threads


def test_a_model_that_turns_slow_goes_back_to_its_thread(tmp_path: Path) -> None:
    settings = ServingSettings(inline_compute_ms=50)
    model, loop_thread = _calls_on_loop(settings, doubler(tmp_path), [1, 1, 1, 1, 1], slow_after=2)
    # calls 0 (unmeasured) on the thread, 1 and 2 inline; call 2 took 0.3 s, so 3 and 4 go to the thread
    assert [t == loop_thread for t in model.threads] == [False, True, True, False, False]


def test_inline_dispatch_can_be_turned_off(tmp_path: Path) -> None:
    model, loop_thread = _calls_on_loop(ServingSettings(inline_compute_ms=0), doubler(tmp_path), [1, 1, 8])
    assert loop_thread not in model.threads


def test_concurrent_model_calls_are_never_inline(tmp_path: Path) -> None:
    settings = ServingSettings(inline_compute_ms=50, max_concurrency=2)
    model, loop_thread = _calls_on_loop(settings, doubler(tmp_path), [1, 1, 8])
    assert loop_thread not in model.threads


def test_after_a_batch_of_n_the_next_waits_for_n_callers_within_the_window(tmp_path: Path) -> None:
    """A fast (inline) model: callers answered together come back one by one; the first to
    return waits (within ``max_batch_wait_ms``) for as many as the last batch held, instead
    of running alone and splitting the group into a large and a small batch."""
    settings = ServingSettings(max_batch_wait_ms=300)
    app = create_serving_app([doubler(tmp_path)], settings)

    def request(value: float) -> InferenceRequest:
        return InferenceRequest(data=np.array([[value, 0.0]]))

    async def late(value: float, delay_s: float) -> Any:
        await asyncio.sleep(delay_s)
        return await app.dataplane.infer("doubler", None, request(value))

    async def run() -> tuple[list[int], float, float]:
        await _started(app)
        try:
            for i in range(5):  # measured: the model's calls now run on the loop
                await app.dataplane.infer("doubler", None, request(float(i)))
            model = live(app, "doubler")
            await asyncio.gather(*(app.dataplane.infer("doubler", None, request(float(i))) for i in range(6)))
            before = len(model.rows)
            started = time.perf_counter()
            results = await asyncio.gather(*(late(float(i), 0.0 if i == 0 else 0.05) for i in range(6)))
            regrouped = time.perf_counter() - started
            assert [r.output.tolist() for r in results] == [[2.0 * i] for i in range(6)]
            await app.dataplane.infer("doubler", None, request(1.0))  # a lone caller: waits once, then adapts
            started = time.perf_counter()
            await app.dataplane.infer("doubler", None, request(2.0))
            lone = time.perf_counter() - started
            return model.rows[before:], regrouped, lone
        finally:
            await app.stop()

    rows, regrouped, lone = asyncio.run(run())
    assert rows[0] == 6  # the first caller back waited for the five others: one call
    assert 0.04 < regrouped < 0.3
    assert rows[1:] == [1, 1]
    assert lone < 0.1  # the last batch held one: no waiting


class _Incomparable:
    """A batch key whose comparison raises: stands in for a bug in the dispatch loop."""

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("comparison failed")

    def __hash__(self) -> int:
        return 0


def test_a_failing_dispatch_loop_answers_the_queue_at_once_and_keeps_dispatching() -> None:
    from shipyard.serving.batching import Batcher, Job
    from shipyard.serving.errors import ModelFailed
    from shipyard.serving.inputs import Prepared
    from shipyard.serving.metrics import ServingMetrics

    release = threading.Event()

    def compute(jobs: list[Job]) -> list[Any]:
        release.wait(5)
        return [job.prepared.value * 2 for job in jobs]

    async def scenario() -> None:
        loop = asyncio.get_running_loop()

        def job(value: float, key: Any) -> Job:
            prepared = Prepared("tensor", np.array([[value]]), 1, key)
            return Job(prepared, "predict", None, key, time.monotonic() + 60, loop.create_future())

        settings = ServingSettings(inline_compute_ms=0)  # every call on the model's thread
        batcher = Batcher(compute, model="m", version="1", settings=settings, metrics=ServingMetrics())
        batcher.start()
        first = job(1.0, ("tensor",))
        batcher.submit(first)  # the model is idle: it runs now, on its thread, until released
        bad, behind = job(2.0, _Incomparable()), job(3.0, ("tensor",))
        batcher.submit(bad)
        batcher.submit(behind)  # both queued behind the busy model
        release.set()
        assert (await asyncio.wait_for(first.future, 5)).tolist() == [[2.0]]
        for waiting in (bad, behind):  # answered at once, not at their 60 s deadline
            with pytest.raises(ModelFailed, match=r"internal error: RuntimeError"):
                await asyncio.wait_for(waiting.future, 5)
        assert batcher.depth == 0
        now, queued = job(4.0, ("tensor",)), job(5.0, ("tensor",))
        batcher.submit(now)
        batcher.submit(queued)  # behind the busy model: only the dispatch loop can start it
        assert (await asyncio.wait_for(now.future, 5)).tolist() == [[8.0]]
        assert (await asyncio.wait_for(queued.future, 5)).tolist() == [[10.0]]
        await batcher.stop()

    asyncio.run(scenario())
