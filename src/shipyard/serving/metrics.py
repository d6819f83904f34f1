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
shipyard_model_memory_bytes                    gauge      model, version   (estimated; loaded models only)
shipyard_loaded_models                         gauge      (model versions loaded and ready)
shipyard_model_memory_budget_bytes             gauge      (0: no budget)
shipyard_model_evictions_total                 counter    model, version   (unloaded to fit the budget)
shipyard_prediction_log_records_total          counter    model, version   (in published files)
shipyard_prediction_log_dropped_total          counter    model, version, reason
shipyard_prediction_log_buffered_records       gauge      (records waiting in memory)
shipyard_prediction_log_write_duration_seconds histogram  (one per flush: convert + write)
=============================================  =========  ==================================

``reason`` is one of ``queue_full``, ``deadline``, ``not_ready``, ``invalid``. A request
for a model the server does not have is labelled ``model=""``, so stray names cannot
blow up the series count. The prediction log's ``reason`` is ``buffer_full`` (the writer
fell behind), ``write_error`` (the sink failed) or ``shutdown`` (still unwritten when the
grace period ended).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, cast

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess, values
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import Metric

from shipyard.serving.tally import CounterTally, HistogramTally, Tally

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
SAMPLE_EVERY_S = 1.0  # with worker processes: how often each samples its gauges


class PredictionLogMetrics:
    """The prediction log's own metrics (:mod:`shipyard.serving.predlog`), on any registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.records = Counter(
            "shipyard_prediction_log_records",
            "Prediction records in published prediction log files.",
            MODEL,
            registry=registry,
        )
        self.dropped = Counter(
            "shipyard_prediction_log_dropped",
            "Prediction records not logged, by reason (buffer_full, write_error, shutdown).",
            [*MODEL, "reason"],
            registry=registry,
        )
        self.buffered = Gauge(
            "shipyard_prediction_log_buffered_records",
            "Prediction records waiting in memory for the writer.",
            registry=registry,
        )
        self.write_duration = Histogram(
            "shipyard_prediction_log_write_duration_seconds",
            "Time to convert and write one batch of prediction records.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )


class ServingMetrics:
    """The data plane's metrics. :meth:`multiprocess` makes them add up across worker
    processes (``shipyard serve --workers N``)."""

    def __init__(self, registry: CollectorRegistry | None = None, *, multiprocess_dir: Path | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.multiprocess_dir = multiprocess_dir
        self._request_tallies: dict[tuple[str, str, str, int], tuple[CounterTally, HistogramTally]] = {}
        self._samplers: list[Callable[[], None]] = []
        self._tallies: dict[int, Tally] = {}  # by id() of the labelled metric each stands for
        self._sampling = threading.Lock()
        r = self.registry
        r.register(_Sampler(self))  # first: every collection of the registry sees up-to-date values
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
        # With worker processes: the sum over the live ones.
        self.inflight = Gauge(
            "shipyard_inflight_requests",
            "Inference requests being handled.",
            MODEL,
            registry=r,
            multiprocess_mode="livesum",
        )
        self.queued = Gauge(
            "shipyard_queued_requests", "Requests waiting for compute.", MODEL, registry=r, multiprocess_mode="livesum"
        )
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
        # Set where the models are loaded (with worker processes: the parent, before they fork).
        self.model_memory = Gauge(
            "shipyard_model_memory_bytes",
            "Estimated resident memory of each loaded model version (RSS growth at load, at least its size on disk).",
            MODEL,
            registry=r,
            multiprocess_mode="max",
        )
        self.loaded_models = Gauge(
            "shipyard_loaded_models", "Model versions loaded and ready.", registry=r, multiprocess_mode="max"
        )
        self.memory_budget = Gauge(
            "shipyard_model_memory_budget_bytes",
            "The memory budget of the loaded models together (0: no budget).",
            registry=r,
            multiprocess_mode="max",
        )
        self.evictions = Counter(
            "shipyard_model_evictions", "Models unloaded to make room under the memory budget.", MODEL, registry=r
        )
        self.prediction_log = PredictionLogMetrics(r)

    @classmethod
    def multiprocess(cls, directory: Path) -> ServingMetrics:
        """Metrics shared by this process and the processes it forks, through files in
        ``directory`` (prometheus_client's multiprocess mode): counters and histograms add
        up, in-flight and queued gauges sum over the live processes, and ``/metrics``
        renders them all, whichever process answers.

        This switches prometheus_client process-wide (its ``PROMETHEUS_MULTIPROC_DIR``),
        so only a process that runs workers calls it, before it creates any metric."""
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
        return cls(multiprocess_dir=directory)

    def observe_request(self, model: str, version: str, protocol: str, status: int, seconds: float) -> None:
        key = (model, version, protocol, status)
        tallies = self._request_tallies.get(key)
        if tallies is None:  # labels() per request costs more than the counting itself
            code = str(status)
            tallies = self._request_tallies[key] = (
                self.counter_tally(self.requests.labels(model, version, protocol, code)),
                self.histogram_tally(self.request_duration.labels(model, version, protocol, code)),
            )
        tallies[0].inc()
        tallies[1].observe(seconds)

    def counter_tally(self, child: Counter) -> CounterTally:
        """A :class:`~shipyard.serving.tally.CounterTally` for ``child`` (a labelled counter),
        flushed by :meth:`sample`; the same one for the same child. Count on the event loop
        thread only."""
        tally = self._tallies.get(id(child))
        if not isinstance(tally, CounterTally):
            tally = self._tallies[id(child)] = CounterTally(child)
        return tally

    def histogram_tally(self, child: Histogram) -> HistogramTally:
        """A :class:`~shipyard.serving.tally.HistogramTally` for ``child`` (a labelled
        histogram), flushed by :meth:`sample`; the same one for the same child. Observe on the
        event loop thread only."""
        tally = self._tallies.get(id(child))
        if not isinstance(tally, HistogramTally):
            tally = self._tallies[id(child)] = HistogramTally(cast(Any, child))
        return tally

    def sample_with(self, sampler: Callable[[], None]) -> None:
        """Call ``sampler`` to set gauges from live counts in :meth:`sample`."""
        self._samplers.append(sampler)

    def sample(self) -> None:
        """Bring the exported values up to date: set the sampled gauges (in-flight and queued
        requests) from the live counts and hand the tallies' counts to their metrics.
        Counting either per request in prometheus_client would take its lock several times
        per request for values only a scrape reads. Every collection of :attr:`registry`
        samples first; with worker processes each worker also samples every
        :data:`SAMPLE_EVERY_S` (``ServingApp``) and when it stops, so another worker's
        ``/metrics`` shows its counts at most that old."""
        with self._sampling:
            for sampler in self._samplers:
                sampler()
            for tally in list(self._tallies.values()):
                tally.flush()

    def reject(self, model: str, version: str, protocol: str, reason: str) -> None:
        self.rejected.labels(model, version, protocol, reason).inc()

    def render(self) -> tuple[bytes, str]:
        if self.multiprocess_dir is None:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST  # which samples first
        self.sample()
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged, path=str(self.multiprocess_dir))  # type: ignore[no-untyped-call]
        return generate_latest(merged), CONTENT_TYPE_LATEST

    def process_exited(self, pid: int) -> None:
        """Forget a worker process's live gauges (its counters and histograms still count)."""
        if self.multiprocess_dir is not None:
            multiprocess.mark_process_dead(pid, str(self.multiprocess_dir))  # type: ignore[no-untyped-call]


class _Sampler:
    """Registered first in the registry: a collection samples before it reads anything."""

    def __init__(self, metrics: ServingMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        self._metrics.sample()
        return ()


__all__ = ["PredictionLogMetrics", "ServingMetrics"]
