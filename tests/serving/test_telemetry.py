"""Telemetry: Prometheus histograms by model/version/protocol/code, request ids, the
answering version, trace context."""

from __future__ import annotations

import re

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.serving.conftest import v2_columns

ROW = [5.1, 3.5, 1.4, 0.2]
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_request_id_is_echoed_or_minted(flavor_server: str) -> None:
    url = f"{flavor_server}/v2/models/sklearn/infer"
    mine = httpx.post(url, json=v2_columns([ROW]), headers={"x-request-id": "caller-42"})
    assert mine.headers["x-request-id"] == "caller-42"
    assert mine.json()["id"] == "caller-42"  # no "id" in the body: the request id answers for it
    minted = httpx.post(url, json=v2_columns([ROW]))
    assert re.fullmatch(r"[0-9a-f]{32}", minted.headers["x-request-id"])
    hostile = httpx.post(url, json=v2_columns([ROW]), headers={"x-request-id": "a b\tc" * 50})
    assert re.fullmatch(r"[0-9a-f]{32}", hostile.headers["x-request-id"])
    for path in ("/v2/health/live", "/nothing", "/metrics"):
        assert httpx.get(f"{flavor_server}{path}").headers["x-request-id"]
    error = httpx.post(url, content=b"{", headers={"x-request-id": "bad-body-1"})
    assert error.headers["x-request-id"] == "bad-body-1"


def test_the_answering_version_and_trace_context_are_in_the_headers(flavor_server: str) -> None:
    reply = httpx.post(
        f"{flavor_server}/v1/models/lightgbm:predict", json={"instances": [ROW]}, headers={"traceparent": TRACEPARENT}
    )
    assert reply.headers["x-shipyard-model-version"] == "lightgbm/1"
    assert reply.headers["traceparent"] == TRACEPARENT
    meta = httpx.get(f"{flavor_server}/v2/models/onnx")
    assert meta.headers["x-shipyard-model-version"] == "onnx/1"
    invalid = httpx.get(f"{flavor_server}/v2/health/ready", headers={"traceparent": "not-a-trace"})
    assert "traceparent" not in invalid.headers
    assert "x-shipyard-model-version" not in invalid.headers


def test_metrics_are_prometheus_histograms_labelled_by_model_version_protocol_code(flavor_server: str) -> None:
    httpx.post(f"{flavor_server}/v2/models/xgboost/infer", json=v2_columns([ROW]))
    httpx.post(f"{flavor_server}/v1/models/xgboost:predict", json={"instances": [ROW]})
    httpx.post(f"{flavor_server}/invocations?model=xgboost", json={"instances": [ROW]})
    httpx.post(f"{flavor_server}/v2/models/xgboost/infer", json={"inputs": []})
    reply = httpx.get(f"{flavor_server}/metrics")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    families = {family.name: family for family in text_string_to_metric_families(reply.text)}
    expected = {
        "shipyard_inference_requests": "counter",
        "shipyard_inference_request_duration_seconds": "histogram",
        "shipyard_inference_queue_duration_seconds": "histogram",
        "shipyard_inference_compute_duration_seconds": "histogram",
        "shipyard_batch_size": "histogram",
        "shipyard_inflight_requests": "gauge",
        "shipyard_queued_requests": "gauge",
        "shipyard_rejected_requests": "counter",
        "shipyard_model_load_duration_seconds": "histogram",
    }
    for name, kind in expected.items():
        assert families[name].type == kind, name
    requests = {
        (s.labels["protocol"], s.labels["code"]): s.value
        for s in families["shipyard_inference_requests"].samples
        if s.name == "shipyard_inference_requests_total" and s.labels["model"] == "xgboost"
    }
    assert requests[("v2", "200")] >= 1
    assert requests[("v1", "200")] >= 1
    assert requests[("mlflow", "200")] >= 1
    assert requests[("v2", "400")] >= 1
    durations = [
        s
        for s in families["shipyard_inference_request_duration_seconds"].samples
        if s.name.endswith("_bucket") and s.labels["model"] == "xgboost" and s.labels["version"] == "1"
    ]
    assert {s.labels["protocol"] for s in durations} >= {"v1", "v2", "mlflow"}
    invalid = [
        s
        for s in families["shipyard_rejected_requests"].samples
        if s.name == "shipyard_rejected_requests_total" and s.labels["reason"] == "invalid"
    ]
    assert sum(s.value for s in invalid) >= 1
    loads = [s for s in families["shipyard_model_load_duration_seconds"].samples if s.name.endswith("_count")]
    assert {s.labels["model"] for s in loads} >= {"sklearn", "xgboost", "onnx"}
