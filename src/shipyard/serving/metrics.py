"""Prometheus metrics of the data plane (histograms, so quantiles aggregate across replicas).

=============================================  =========  ==================================
name                                           type       labels
=============================================  =========  ==================================
shipyard_inference_requests_total              counter    model, version, protocol, code
shipyard_inference_request_duration_seconds    histogram  model, version, protocol, code
shipyard_inference_queue_duration_seconds      histogram  model, version
shipyard_inference_compute_duration_seconds    histogram  model, version   (one per model call)
shipyard_batch_size                            histogram  model, version   (requests per call)
shipyard_inflight_requests                     gauge      model, version
shipyard_queued_requests                       gauge      model, version
shipyard_rejected_requests_total               counter    model, version, protocol, reason
shipyard_model_load_duration_seconds           histogram  model, version   (load + verify + warm-up)
=============================================  =========  ==================================

``reason`` is one of ``queue_full``, ``deadline``, ``not_ready``, ``invalid``. A request
for a model the server does not have is labelled ``model=""``, so stray names cannot
blow up the series count.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
LOAD_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
MODEL = ["model", "version"]


class ServingMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "shipyard_inference_requests", "Inference requests answered.", [*MODEL, "protocol", "code"], registry=r
        )
        self.request_duration = Histogram(
            "shipyard_inference_request_duration_seconds",
            "Time from a request's arrival to its reply.",
            [*MODEL, "protocol", "code"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_duration = Histogram(
            "shipyard_inference_queue_duration_seconds",
            "Time a request waited in its model's queue before compute.",
            MODEL,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.compute_duration = Histogram(
            "shipyard_inference_compute_duration_seconds",
            "Time of one model call (one batch).",
            MODEL,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "shipyard_batch_size", "Requests per model call.", MODEL, buckets=BATCH_BUCKETS, registry=r
        )
        self.inflight = Gauge("shipyard_inflight_requests", "Inference requests being handled.", MODEL, registry=r)
        self.queued = Gauge("shipyard_queued_requests", "Requests waiting for compute.", MODEL, registry=r)
        self.rejected = Counter(
            "shipyard_rejected_requests",
            "Inference requests refused, by reason (queue_full, deadline, not_ready, invalid).",
            [*MODEL, "protocol", "reason"],
            registry=r,
        )
        self.load_duration = Histogram(
            "shipyard_model_load_duration_seconds",
            "Time to load, verify and warm up a model.",
            MODEL,
            buckets=LOAD_BUCKETS,
            registry=r,
        )

    def observe_request(self, model: str, version: str, protocol: str, status: int, seconds: float) -> None:
        code = str(status)
        self.requests.labels(model, version, protocol, code).inc()
        self.request_duration.labels(model, version, protocol, code).observe(seconds)

    def reject(self, model: str, version: str, protocol: str, reason: str) -> None:
        self.rejected.labels(model, version, protocol, reason).inc()

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


__all__ = ["ServingMetrics"]
