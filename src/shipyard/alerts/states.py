"""The alert state machine: a pure function from (state, observation, now) to the next
state and the notifications it owes, with Prometheus/Alertmanager semantics. No I/O: the
service stores what this decides and delivers the notifications.

::

    inactive ──condition true──▶ pending ──true for ``for_s``──▶ firing ──condition false──▶ resolved
       ▲   (``for_s`` = 0: straight to firing)  │                    │                        │
       └──────────── condition false ───────────┘     notify "firing" once      notify "resolved" once
    resolved ──condition true──▶ pending (a new episode)

* An alert instance is one (rule, label set): its **fingerprint** (:func:`fingerprint`).
  However often a rule is evaluated, an instance notifies once when it starts firing and
  once when it resolves (and again every ``repeat_interval_s`` while firing, if set).
* No observation, or one older than ``stale_after_s``, means the condition is not met
  (as an absent series in Prometheus): a pending alert goes back to inactive, a firing one
  resolves.
"""

from __future__ import annotations

import hashlib
import json
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Literal

Op = Literal[">", ">=", "<", "<=", "==", "!="]
OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


class AlertStatus(StrEnum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class Observation:
    """One value of a series at a moment, with the labels that tell its series apart."""

    at: datetime
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Condition:
    """When an alert instance is active and how long it must stay so before it fires."""

    op: Op
    threshold: float
    for_s: float = 0.0
    stale_after_s: float | None = None
    repeat_interval_s: float | None = None

    def holds(self, observation: Observation | None, now: datetime) -> bool:
        if observation is None or math.isnan(observation.value):
            return False
        if self.stale_after_s is not None and (now - observation.at).total_seconds() > self.stale_after_s:
            return False
        return OPS[self.op](observation.value, self.threshold)


@dataclass(frozen=True)
class AlertState:
    status: AlertStatus = AlertStatus.INACTIVE
    active_since: datetime | None = None  # when the condition last became true (pending began)
    fired_at: datetime | None = None  # when the current (or last) episode started firing
    resolved_at: datetime | None = None
    notified_at: datetime | None = None  # the last firing notification
    value: float | None = None  # the last observed value
    observed_at: datetime | None = None


NotificationKind = Literal["firing", "resolved"]


@dataclass(frozen=True)
class Step:
    state: AlertState
    notify: NotificationKind | None = None

    @property
    def changed(self) -> bool:
        return self.notify is not None


def step(condition: Condition, state: AlertState, observation: Observation | None, now: datetime) -> Step:
    """The next state of one alert instance after evaluating it at ``now``."""
    seen = replace(
        state,
        value=observation.value if observation is not None else state.value,
        observed_at=observation.at if observation is not None else state.observed_at,
    )
    if condition.holds(observation, now):
        if state.status in (AlertStatus.INACTIVE, AlertStatus.RESOLVED):
            seen = replace(seen, status=AlertStatus.PENDING, active_since=now)
        if seen.status == AlertStatus.PENDING:
            assert seen.active_since is not None
            if (now - seen.active_since).total_seconds() >= condition.for_s:
                fired = replace(seen, status=AlertStatus.FIRING, fired_at=now, resolved_at=None, notified_at=now)
                return Step(fired, "firing")
            return Step(seen)
        # firing: notify again only after repeat_interval_s
        repeat = condition.repeat_interval_s
        if repeat is not None and seen.notified_at is not None and (now - seen.notified_at).total_seconds() >= repeat:
            return Step(replace(seen, notified_at=now), "firing")
        return Step(seen)
    if state.status == AlertStatus.FIRING:
        return Step(replace(seen, status=AlertStatus.RESOLVED, resolved_at=now, active_since=None), "resolved")
    if state.status == AlertStatus.PENDING:
        return Step(replace(seen, status=AlertStatus.INACTIVE, active_since=None))
    return Step(seen)


def fingerprint(owner: str, labels: Mapping[str, str]) -> str:
    """The identity of an alert instance: its rule (or SLO window) and its label set."""
    canonical = json.dumps([owner, sorted(labels.items())], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


__all__ = [
    "OPS",
    "AlertState",
    "AlertStatus",
    "Condition",
    "NotificationKind",
    "Observation",
    "Op",
    "Step",
    "fingerprint",
    "step",
]
