"""Tallies count like prometheus_client and hand over exactly what they counted."""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Counter, Histogram

from shipyard.serving.metrics import LATENCY_BUCKETS, ServingMetrics
from shipyard.serving.tally import CounterTally, HistogramTally


def test_a_histogram_tally_matches_prometheus_observe_bucket_for_bucket() -> None:
    registry = CollectorRegistry()
    direct = Histogram("direct", "d", buckets=LATENCY_BUCKETS, registry=registry)
    tallied = Histogram("tallied", "t", buckets=LATENCY_BUCKETS, registry=registry)
    tally = HistogramTally(tallied)
    values = [0.0, 0.0005, 0.00051, 0.001, 0.3, 59.9, 60.0, 61.0, 1e9]
    for v in values:
        direct.observe(v)
        tally.observe(v)
    tally.flush()
    tally.flush()  # a second flush hands over nothing more
    for bound in [*LATENCY_BUCKETS, float("inf")]:
        le = "+Inf" if bound == float("inf") else str(bound)
        assert registry.get_sample_value("tallied_bucket", {"le": le}) == registry.get_sample_value(
            "direct_bucket", {"le": le}
        )
    assert registry.get_sample_value("tallied_count") == len(values)
    assert registry.get_sample_value("tallied_sum") == registry.get_sample_value("direct_sum")


def test_a_counter_tally_hands_over_only_the_difference() -> None:
    registry = CollectorRegistry()
    counter = Counter("c", "c", registry=registry)
    tally = CounterTally(counter)
    for _ in range(3):
        tally.inc()
    tally.flush()
    tally.inc()
    tally.flush()
    tally.flush()
    assert registry.get_sample_value("c_total") == 4


def test_collecting_the_registry_flushes_and_a_flush_from_another_thread_loses_nothing() -> None:
    metrics = ServingMetrics()
    stop = threading.Event()

    def scrape() -> None:
        while not stop.is_set():
            metrics.registry.get_sample_value("shipyard_inference_requests_total", {})

    scraper = threading.Thread(target=scrape)
    scraper.start()
    try:
        for i in range(20_000):
            metrics.observe_request("m", "1", "v2", 200, 0.001 * (i % 7))
    finally:
        stop.set()
        scraper.join()
    labels = {"model": "m", "version": "1", "protocol": "v2", "code": "200"}
    assert metrics.registry.get_sample_value("shipyard_inference_requests_total", labels) == 20_000
    assert metrics.registry.get_sample_value("shipyard_inference_request_duration_seconds_count", labels) == 20_000
