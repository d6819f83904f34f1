"""SLO arithmetic over sampled counters: increases (with counter resets), error ratios,
burn rates, histogram quantiles and the multi-window, multi-burn-rate rule of the Google
SRE workbook (chapter 5, "Alerting on SLOs"). Pure functions (no numpy: the server's core
install runs them).

A **sample** is a scrape of cumulative counters at one moment: requests, errors (e.g.
5xx answers) and the latency histogram's cumulative buckets. Over a window ``[now - w, now]``:

* ``increase`` of a counter: the sum of its rises between consecutive samples; a fall is a
  reset (the process restarted), after which the new value counts whole — Prometheus'
  ``increase()`` without extrapolation. The window starts at the last sample at or before
  ``now - w`` (or the first sample inside it, when history is shorter than the window).
* ``error ratio`` = increase(bad) / increase(total); no traffic gives no ratio (``None``).
* ``burn rate`` = error ratio / (1 - objective): 1 spends the error budget exactly over the
  SLO window, 14.4 spends 2 % of a 30-day budget in one hour.
* A burn-rate alert fires when **both** its long and its short window burn at least its
  factor (the short window makes it resolve soon after the burning stops).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Sample:
    at: datetime
    total: float  # requests answered (cumulative)
    errors: float  # of which bad (cumulative)
    buckets: Mapping[float, float] = field(default_factory=dict)  # le (seconds) -> cumulative count


@dataclass(frozen=True)
class BurnWindow:
    """One burn-rate alert: fire when both windows burn at least ``factor``."""

    name: str
    severity: str
    factor: float
    long_s: float
    short_s: float


# The workbook's recommendation for a 30-day SLO (table 5-8).
DEFAULT_BURN_WINDOWS: tuple[BurnWindow, ...] = (
    BurnWindow("page-1h", "page", 14.4, 3600.0, 300.0),
    BurnWindow("page-6h", "page", 6.0, 6 * 3600.0, 1800.0),
    BurnWindow("ticket-3d", "ticket", 1.0, 3 * 86400.0, 6 * 3600.0),
)


def increase(values: Sequence[float]) -> float:
    """The counter's increase along ``values`` (consecutive samples), resets counted."""
    return math.fsum(b - a if b >= a else b for a, b in itertools.pairwise(values))


def window_slice(samples: Sequence[Sample], now: datetime, window_s: float) -> Sequence[Sample]:
    """The samples a window over ``[now - window_s, now]`` reads (``samples`` sorted by time)."""
    start = now - timedelta(seconds=window_s)
    upto = [s for s in samples if s.at <= now]
    first = 0
    for i, s in enumerate(upto):
        if s.at <= start:
            first = i
        else:
            break
    return upto[first:]


@dataclass(frozen=True)
class WindowCounts:
    total: float
    bad: float
    seconds: float  # time between the window's first and last sample

    @property
    def ratio(self) -> float | None:
        return self.bad / self.total if self.total > 0 else None


def availability_counts(samples: Sequence[Sample], now: datetime, window_s: float) -> WindowCounts:
    chosen = window_slice(samples, now, window_s)
    if len(chosen) < 2:
        return WindowCounts(0.0, 0.0, 0.0)
    total = increase([s.total for s in chosen])
    bad = increase([s.errors for s in chosen])
    return WindowCounts(total, min(bad, total), (chosen[-1].at - chosen[0].at).total_seconds())


def bucket_increases(chosen: Sequence[Sample]) -> dict[float, float]:
    """Each bucket's increase over the samples (buckets missing from a sample count as 0)."""
    bounds = sorted({le for s in chosen for le in s.buckets})
    return {le: increase([s.buckets.get(le, 0.0) for s in chosen]) for le in bounds}


def latency_counts(samples: Sequence[Sample], now: datetime, window_s: float, threshold_s: float) -> WindowCounts:
    """Requests slower than ``threshold_s`` (which must be a bucket bound) are bad."""
    chosen = window_slice(samples, now, window_s)
    if len(chosen) < 2:
        return WindowCounts(0.0, 0.0, 0.0)
    increases = bucket_increases(chosen)
    if threshold_s not in increases:
        known = ", ".join(f"{b:g}" for b in sorted(increases) if math.isfinite(b))
        raise ValueError(f"latency threshold {threshold_s:g}s is not a histogram bucket bound (bounds: {known})")
    total = increases.get(float("inf"), 0.0)
    good = min(increases[threshold_s], total)
    return WindowCounts(total, total - good, (chosen[-1].at - chosen[0].at).total_seconds())


def histogram_quantile(q: float, buckets: Mapping[float, float]) -> float | None:
    """Prometheus' ``histogram_quantile`` over cumulative bucket counts (linear inside a
    bucket; the lowest bucket starts at 0; a rank in the +Inf bucket gives the highest
    finite bound)."""
    bounds = sorted(buckets)
    if not bounds or not math.isinf(bounds[-1]):
        return None
    total = buckets[bounds[-1]]
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for le in bounds:
        count = buckets[le]
        if count >= rank:
            if math.isinf(le):
                return lower
            inside = count - below
            return lower + (le - lower) * ((rank - below) / inside if inside > 0 else 1.0)
        lower, below = le, count
    return lower


def burn_rate(counts: WindowCounts, objective: float) -> float | None:
    ratio = counts.ratio
    return None if ratio is None else ratio / (1.0 - objective)


@dataclass(frozen=True)
class BurnReading:
    window: BurnWindow
    long_burn: float | None
    short_burn: float | None

    @property
    def value(self) -> float:
        """What the alert compares with its factor: the smaller burn (both must exceed it);
        NaN without traffic in either window."""
        if self.long_burn is None or self.short_burn is None:
            return float("nan")
        return min(self.long_burn, self.short_burn)

    @property
    def burning(self) -> bool:
        return self.value >= self.window.factor


def burn_readings(
    samples: Sequence[Sample],
    now: datetime,
    objective: float,
    windows: Sequence[BurnWindow],
    *,
    latency_threshold_s: float | None = None,
) -> list[BurnReading]:
    """The burn of each window pair at ``now`` (availability, or latency with a threshold)."""

    def counts(window_s: float) -> WindowCounts:
        if latency_threshold_s is None:
            return availability_counts(samples, now, window_s)
        return latency_counts(samples, now, window_s, latency_threshold_s)

    return [
        BurnReading(w, burn_rate(counts(w.long_s), objective), burn_rate(counts(w.short_s), objective)) for w in windows
    ]


__all__ = [
    "DEFAULT_BURN_WINDOWS",
    "BurnReading",
    "BurnWindow",
    "Sample",
    "WindowCounts",
    "availability_counts",
    "bucket_increases",
    "burn_rate",
    "burn_readings",
    "histogram_quantile",
    "increase",
    "latency_counts",
    "window_slice",
]
