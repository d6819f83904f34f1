"""SLO arithmetic and the multi-window, multi-burn-rate alerts on synthetic counters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from shipyard.alerts.burn import (
    DEFAULT_BURN_WINDOWS,
    Sample,
    availability_counts,
    burn_readings,
    histogram_quantile,
    increase,
    latency_counts,
)
from shipyard.alerts.states import AlertState, Condition, NotificationKind, Observation, step

T0 = datetime(2026, 1, 1, tzinfo=UTC)
OBJECTIVE = 0.999  # budget: 0.1 % errors


def series(minutes: int, rate_per_min: float, error_ratio: Callable[[int], float], step_min: int = 1) -> list[Sample]:
    """Counters sampled every ``step_min`` minutes: ``rate_per_min`` requests a minute,
    ``error_ratio(minute)`` of them failing."""
    total = errors = 0.0
    out = [Sample(T0, 0.0, 0.0)]
    for m in range(step_min, minutes + 1, step_min):
        n = rate_per_min * step_min
        total += n
        errors += n * error_ratio(m)
        out.append(Sample(T0 + timedelta(minutes=m), total, errors))
    return out


def test_increase_counts_resets() -> None:
    assert increase([0.0, 5.0, 9.0]) == 9.0
    assert increase([10.0, 12.0, 3.0, 4.0]) == 2.0 + 3.0 + 1.0  # restart at 3
    assert increase([7.0]) == 0.0


def test_window_reads_from_the_sample_at_its_start() -> None:
    samples = series(120, 100, lambda m: 0.01 if m > 60 else 0.0)
    now = T0 + timedelta(minutes=120)
    hour = availability_counts(samples, now, 3600)
    assert hour.total == pytest.approx(6000)
    assert hour.bad == pytest.approx(60)
    assert hour.ratio == pytest.approx(0.01)
    both = availability_counts(samples, now, 7200)
    assert both.ratio == pytest.approx(0.005)
    # history shorter than the window: what there is
    assert availability_counts(samples, now, 30 * 86400).total == pytest.approx(12000)
    assert availability_counts(samples[:1], now, 3600).ratio is None


def alert_trace(samples: list[Sample], minutes: range, window_index: int) -> list[NotificationKind | None]:
    window = DEFAULT_BURN_WINDOWS[window_index]
    condition = Condition(">=", window.factor)
    state = AlertState()
    notes = []
    for m in minutes:
        now = T0 + timedelta(minutes=m)
        reading = burn_readings(samples, now, OBJECTIVE, [window])[0]
        result = step(condition, state, Observation(now, reading.value), now)
        state = result.state
        notes.append(result.notify)
    return notes


def test_fast_burn_pages_within_minutes_and_resolves_after_it_stops() -> None:
    # 2 % errors (20x the 0.1 % budget) from minute 120 to 180, clean otherwise.
    samples = series(300, 100, lambda m: 0.02 if 120 < m <= 180 else 0.0)
    notes = alert_trace(samples, range(60, 300), 0)  # page-1h: 14.4x over 1h and 5m
    fired = [60 + i for i, n in enumerate(notes) if n == "firing"]
    resolved = [60 + i for i, n in enumerate(notes) if n == "resolved"]
    assert len(fired) == 1
    assert len(resolved) == 1
    # 1h burn reaches 14.4 after 0.72 h of 20x burn: ~44 minutes in
    assert 160 <= fired[0] <= 166
    # the 5-minute window clears within 5 minutes of the errors stopping
    assert 181 <= resolved[0] <= 186


def test_slow_burn_does_not_page_but_opens_a_ticket() -> None:
    # 2x the budget for three days: a ticket (1x over 3d and 6h), never a page.
    samples = series(4 * 24 * 60, 10, lambda m: 0.002, step_min=5)
    assert alert_trace(samples, range(60, 4 * 24 * 60, 30), 0).count("firing") == 0
    assert alert_trace(samples, range(60, 4 * 24 * 60, 30), 1).count("firing") == 0
    ticket = alert_trace(samples, range(60, 4 * 24 * 60, 30), 2)
    assert ticket.count("firing") == 1
    assert "resolved" not in ticket


def test_short_spike_alone_does_not_page() -> None:
    # 1 % errors (10x) for 3 minutes: the 5m window burns 6x, the 1h window 0.5x.
    samples = series(180, 100, lambda m: 0.01 if 100 < m <= 103 else 0.0)
    assert alert_trace(samples, range(60, 180), 0).count("firing") == 0


def test_latency_counts_and_quantiles() -> None:
    inf = float("inf")
    a = Sample(T0, 0, 0, {0.05: 0, 0.1: 0, 0.25: 0, inf: 0})
    b = Sample(T0 + timedelta(minutes=5), 100, 0, {0.05: 50, 0.1: 90, 0.25: 99, inf: 100})
    counts = latency_counts([a, b], b.at, 300, 0.1)
    assert (counts.total, counts.bad) == (100, 10)
    with pytest.raises(ValueError, match="not a histogram bucket bound"):
        latency_counts([a, b], b.at, 300, 0.2)
    assert histogram_quantile(0.5, b.buckets) == pytest.approx(0.05)
    assert histogram_quantile(0.9, b.buckets) == pytest.approx(0.1)
    assert histogram_quantile(0.95, b.buckets) == pytest.approx(0.1 + 0.15 * 5 / 9)
    assert histogram_quantile(0.999, b.buckets) == pytest.approx(0.25)  # in +Inf: highest finite bound
    assert histogram_quantile(0.5, {inf: 0}) is None
