"""The alert state machine, as a pure function."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shipyard.alerts.states import (
    AlertState,
    AlertStatus,
    Condition,
    NotificationKind,
    Observation,
    fingerprint,
    step,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def run(condition: Condition, values: list[float | None]) -> list[tuple[AlertStatus, NotificationKind | None]]:
    """One evaluation a minute; returns (status, notification) after each."""
    state = AlertState()
    out = []
    for i, value in enumerate(values):
        obs = None if value is None else Observation(at(i), value)
        result = step(condition, state, obs, at(i))
        state = result.state
        out.append((state.status, result.notify))
    return out


def test_pending_then_firing_after_for_then_resolved() -> None:
    trace = run(Condition(">", 0.5, for_s=120), [0.1, 0.9, 0.9, 0.9, 0.9, 0.2, 0.2])
    assert trace == [
        (AlertStatus.INACTIVE, None),
        (AlertStatus.PENDING, None),
        (AlertStatus.PENDING, None),  # 60 s < 120 s
        (AlertStatus.FIRING, "firing"),  # 120 s: fires once
        (AlertStatus.FIRING, None),  # deduplicated: no second notification
        (AlertStatus.RESOLVED, "resolved"),
        (AlertStatus.RESOLVED, None),
    ]


def test_pending_that_clears_never_fires() -> None:
    trace = run(Condition(">", 0.5, for_s=300), [0.9, 0.9, 0.1, 0.9])
    assert [s for s, _ in trace] == [
        AlertStatus.PENDING,
        AlertStatus.PENDING,
        AlertStatus.INACTIVE,
        AlertStatus.PENDING,
    ]
    assert all(n is None for _, n in trace)


def test_zero_for_fires_at_once_and_a_new_episode_notifies_again() -> None:
    trace = run(Condition(">=", 1.0), [1.0, 0.0, 2.0, 2.0])
    assert [n for _, n in trace] == ["firing", "resolved", "firing", None]


def test_no_data_resolves_and_stale_data_counts_as_none() -> None:
    assert [n for _, n in run(Condition(">", 0), [1.0, None])] == ["firing", "resolved"]
    cond = Condition(">", 0, stale_after_s=90)
    state = step(cond, AlertState(), Observation(at(0), 5.0), at(0)).state
    assert state.status == AlertStatus.FIRING
    assert step(cond, state, Observation(at(0), 5.0), at(1)).notify is None  # 60 s old: still fresh
    late = step(cond, state, Observation(at(0), 5.0), at(2))  # 120 s old: stale
    assert (late.state.status, late.notify) == (AlertStatus.RESOLVED, "resolved")


def test_nan_is_no_data_and_repeat_interval_renotifies() -> None:
    assert run(Condition("<", 1.0), [float("nan")]) == [(AlertStatus.INACTIVE, None)]
    trace = run(Condition(">", 0, repeat_interval_s=120), [1, 1, 1, 1, 1])
    assert [n for _, n in trace] == ["firing", None, "firing", None, "firing"]


def test_every_operator() -> None:
    for op, value, expected in [
        (">", 2, True),
        (">", 1, False),
        (">=", 1, True),
        ("<", 0, True),
        ("<=", 1, True),
        ("==", 1, True),
        ("!=", 1, False),
    ]:
        assert Condition(op, 1.0).holds(Observation(T0, value), T0) is expected, op  # type: ignore[arg-type]


def test_fingerprint_is_the_rule_and_the_label_set() -> None:
    assert fingerprint("r", {"a": "1", "b": "2"}) == fingerprint("r", {"b": "2", "a": "1"})
    assert fingerprint("r", {"a": "1"}) != fingerprint("r", {"a": "2"})
    assert fingerprint("r", {}) != fingerprint("s", {})
