"""A short, bounded load test of the serving runtime: the model served by Shipyard's own data
plane (:func:`shipyard.serving.create_serving_app`) on a loopback port, answering single-row
MLflow ``/invocations`` requests one after another. The latencies are what a caller of an
endpoint would see on the same machine, minus the network."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import numpy as np

from shipyard.demo.background_server import serve_in_thread
from shipyard.errors import Unavailable
from shipyard.models import LoadedModel
from shipyard.serving import ServedModel, create_serving_app

DEFAULT_REQUESTS = 200
MAX_REQUESTS = 2000
READY_TIMEOUT_S = 30.0


def _payloads(frame: Any, count: int) -> list[bytes]:
    rows = min(len(frame), count)
    split = json.loads(frame.iloc[:rows].to_json(orient="split", index=False))
    return [
        json.dumps({"dataframe_split": {"columns": split["columns"], "data": [split["data"][i % rows]]}}).encode()
        for i in range(count)
    ]


def _wait_ready(client: httpx.Client) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if client.get("/v2/health/ready").status_code == 200:
            return
        time.sleep(0.02)
    raise Unavailable("the model did not become ready for the latency test")


def measure_latency(model: LoadedModel, frame: Any, *, requests: int = DEFAULT_REQUESTS) -> dict[str, float]:
    """``p50_latency_ms``, ``p99_latency_ms`` and ``mean_latency_ms`` over ``requests`` single-row
    requests (at most ``MAX_REQUESTS``), after a few warm-up requests."""
    count = max(1, min(int(requests), MAX_REQUESTS))
    payloads = _payloads(frame, count)
    app = create_serving_app([ServedModel(name="candidate", version="1", model=model)])
    timings = np.empty(count)
    headers = {"content-type": "application/json"}
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        _wait_ready(client)
        for body in payloads[:5]:
            client.post("/invocations", content=body, headers=headers).raise_for_status()
        for i, body in enumerate(payloads):
            start = time.perf_counter()
            client.post("/invocations", content=body, headers=headers).raise_for_status()
            timings[i] = (time.perf_counter() - start) * 1000.0
    return {
        "p50_latency_ms": float(np.percentile(timings, 50)),
        "p99_latency_ms": float(np.percentile(timings, 99)),
        "mean_latency_ms": float(timings.mean()),
        "requests": float(count),
    }


__all__ = ["DEFAULT_REQUESTS", "measure_latency"]
