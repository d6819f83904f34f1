"""Read one endpoint's counters off a Prometheus ``/metrics`` page (text format, parsed by
``prometheus_client.parser``) into a :class:`~shipyard.alerts.burn.Sample`.

Series of the requests counter and the duration histogram count when they carry every
label of :attr:`MetricsTarget.labels`; they are summed (across versions, replicas…).
Errors are the requests whose ``code`` label matches ``error_codes`` (5xx by default).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime

import httpx
from prometheus_client.parser import text_string_to_metric_families

from shipyard.alerts.burn import Sample
from shipyard.alerts.schemas import MetricsTarget
from shipyard.alerts.secrets import scrub


class ScrapeError(Exception):
    """A metrics page could not be read; the message names no secret of its URL."""


def _matches(labels: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in wanted.items())


def parse_sample(text: str, target: MetricsTarget, at: datetime) -> Sample:
    """The target's counters in one exposition text."""
    total = errors = 0.0
    buckets: dict[float, float] = defaultdict(float)
    error_codes = re.compile(target.error_codes)
    requests_total = f"{target.requests_metric}_total"
    bucket_name = f"{target.duration_metric}_bucket"
    for family in text_string_to_metric_families(text):
        if family.name not in (target.requests_metric, target.duration_metric):
            continue
        for s in family.samples:
            if not _matches(s.labels, target.labels):
                continue
            if s.name == requests_total:
                total += s.value
                if error_codes.fullmatch(s.labels.get(target.code_label, "")):
                    errors += s.value
            elif s.name == bucket_name:
                buckets[float(s.labels["le"])] += s.value
    return Sample(at=at, total=total, errors=errors, buckets=dict(buckets))


def scrape(client: httpx.Client, target: MetricsTarget, at: datetime) -> Sample:
    secrets = [target.url]
    try:
        response = client.get(target.url, timeout=target.timeout_s)
    except httpx.HTTPError as exc:
        raise ScrapeError(scrub(f"{type(exc).__name__}: {exc}", secrets)) from None
    if response.status_code != 200:
        raise ScrapeError(f"HTTP {response.status_code}")
    try:
        return parse_sample(response.text, target, at)
    except ValueError as exc:
        raise ScrapeError(scrub(f"not Prometheus text format: {exc}", secrets)) from None


__all__ = ["ScrapeError", "parse_sample", "scrape"]
