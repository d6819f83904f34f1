"""Per-request metrics counted in plain Python and handed to prometheus_client in bulk.

prometheus_client takes a lock for every increment and scans a histogram's buckets in
Python, which on the serving hot path (a counter and four histogram observations per
request) cost more than parsing the request's HTTP. A tally counts with plain integer
and float additions instead, on the event loop thread that handles requests, and
:meth:`ServingMetrics.sample <shipyard.serving.metrics.ServingMetrics.sample>` adds what
it counted since the last time to the prometheus_client metric it stands for: before
every collection of the registry (a scrape, ``get_sample_value``) and, with worker
processes, every second. What a scrape shows is therefore exactly what was counted.

Each tally has one writer, the event loop thread, and keeps cumulative counts next to
what it already handed over; a flush (serialised by its owner) hands over the difference,
so a flush from another thread never loses an increment.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Protocol


class _Value(Protocol):
    """A labelled counter, or one of a histogram's bucket and sum values."""

    def inc(self, amount: float = 1) -> None: ...


class _HistogramChild(Protocol):
    _upper_bounds: list[float]
    _buckets: list[_Value]
    _sum: _Value


class CounterTally:
    """Stands for one labelled prometheus_client ``Counter``."""

    __slots__ = ("_child", "_flushed", "count")

    def __init__(self, child: _Value) -> None:
        self._child = child
        self.count = 0
        self._flushed = 0

    def inc(self) -> None:
        self.count += 1

    def flush(self) -> None:
        count = self.count
        if count != self._flushed:
            self._child.inc(count - self._flushed)
            self._flushed = count


class HistogramTally:
    """Stands for one labelled prometheus_client ``Histogram``: same buckets (a value lands
    in the first bucket whose upper bound is at least the value, as ``observe`` does)."""

    __slots__ = ("_bounds", "_child", "_flushed", "_flushed_total", "counts", "total")

    def __init__(self, child: _HistogramChild) -> None:
        self._child = child
        self._bounds = list(child._upper_bounds)  # ends with +Inf: every value has a bucket
        self.counts = [0] * len(self._bounds)
        self.total = 0.0
        self._flushed = [0] * len(self._bounds)
        self._flushed_total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self._bounds, value)] += 1
        self.total += value

    def flush(self) -> None:
        child, flushed = self._child, self._flushed
        for i, count in enumerate(self.counts):
            if count != flushed[i]:
                child._buckets[i].inc(count - flushed[i])
                flushed[i] = count
        total = self.total
        if total != self._flushed_total:
            child._sum.inc(total - self._flushed_total)
            self._flushed_total = total


Tally = CounterTally | HistogramTally

__all__ = ["CounterTally", "HistogramTally", "Tally"]
