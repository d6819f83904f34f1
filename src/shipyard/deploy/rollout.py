"""The rollout state machine: pure functions from (state, spec, observation) to the next
transition, each with a reason. No I/O: the service stores what these decide, the
controller (:mod:`shipyard.deploy.controller`) feeds them observations through
:func:`shipyard.deploy.service.observe`.

A rollout moves traffic from the *stable* routes (what served before) to the *desired*
routes of a new revision. ``weight`` is the percent of requests that follow the desired
routes; the rest follow the stable ones (:func:`blend`)::

    Progressing ──set_weight──▶ Progressing
        │  ├──pause──▶ Paused ──duration over / promote──▶ Progressing (next step)
        │  └─analysis─▶ Analysing ──success──▶ Progressing (next step)
        │                   └──failure / inconclusive past timeout──▶ Aborted (weight 0)
        ├──no steps left──▶ Promoted (weight 100)
        └──not ready within progress_deadline──▶ Aborted
    any live phase ──abort (rollback)──▶ Aborted;  ──promote --full──▶ Promoted
    any live phase ──a newer revision applied──▶ Superseded

``blue_green`` is the same machine whose steps never set a weight: the new routes stay at
0 % through the pauses and analyses and take 100 % at promotion. The rules are small named
functions tried in order (:data:`RULES`); the first that returns a transition wins.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from shipyard.deploy.analysis import AnalysisResult
from shipyard.deploy.spec import EndpointSpec, RouteSpec


class Phase(StrEnum):
    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    ANALYSING = "Analysing"
    PROMOTED = "Promoted"
    ABORTED = "Aborted"
    SUPERSEDED = "Superseded"


TERMINAL: frozenset[Phase] = frozenset({Phase.PROMOTED, Phase.ABORTED, Phase.SUPERSEDED})


@dataclass(frozen=True)
class RolloutState:
    phase: Phase
    step_index: int  # the step being carried out (== len(steps) once all are done)
    weight: float  # percent of requests following the desired routes
    phase_since: datetime  # when the current phase (or step) began
    started_at: datetime  # when the rollout began (progress deadline)


@dataclass(frozen=True)
class Observation:
    """What the controller (or a person) reports at one moment."""

    now: datetime
    ready: bool = True  # the desired routes' model servers answer health checks
    analysis: AnalysisResult | None = None  # the judge's latest verdict during an analysis step
    promote: bool = False  # resume past the current pause (manual promotion)
    promote_full: bool = False  # skip every remaining step
    abort: str | None = None  # abort with this reason (rollback)


@dataclass(frozen=True)
class Transition:
    phase: Phase
    step_index: int
    weight: float
    reason: str

    def applied_to(self, state: RolloutState, now: datetime) -> RolloutState:
        moved = self.phase != state.phase or self.step_index != state.step_index
        return RolloutState(
            phase=self.phase,
            step_index=self.step_index,
            weight=self.weight,
            phase_since=now if moved else state.phase_since,
            started_at=state.started_at,
        )


Rule = Callable[[RolloutState, EndpointSpec, Observation], Transition | None]


def _elapsed(since: datetime, now: datetime) -> float:
    return max(0.0, (now - since).total_seconds())


def _abort(state: RolloutState, _: EndpointSpec, obs: Observation) -> Transition | None:
    if obs.abort is None:
        return None
    return Transition(Phase.ABORTED, state.step_index, 0.0, obs.abort)


def _promote_full(state: RolloutState, spec: EndpointSpec, obs: Observation) -> Transition | None:
    if not obs.promote_full:
        return None
    return Transition(Phase.PROMOTED, len(spec.strategy.steps), 100.0, "promoted in full by request")


def _deadline(state: RolloutState, spec: EndpointSpec, obs: Observation) -> Transition | None:
    if obs.ready:
        return None
    waited = _elapsed(state.started_at, obs.now)
    if state.phase == Phase.PROGRESSING and waited >= spec.strategy.progress_deadline:
        return Transition(
            Phase.ABORTED,
            state.step_index,
            0.0,
            f"the new version was not ready within the progress deadline ({spec.strategy.progress_deadline:g}s)",
        )
    return None


def _paused(state: RolloutState, spec: EndpointSpec, obs: Observation) -> Transition | None:
    if state.phase != Phase.PAUSED:
        return None
    pause = spec.strategy.steps[state.step_index].pause
    assert pause is not None
    if obs.promote:
        return Transition(Phase.PROGRESSING, state.step_index + 1, state.weight, f"step {state.step_index}: promoted")
    if pause.duration is not None and _elapsed(state.phase_since, obs.now) >= pause.duration:
        return Transition(
            Phase.PROGRESSING,
            state.step_index + 1,
            state.weight,
            f"step {state.step_index}: paused {pause.duration:g}s",
        )
    return None


def _analysing(state: RolloutState, spec: EndpointSpec, obs: Observation) -> Transition | None:
    if state.phase != Phase.ANALYSING:
        return None
    step = spec.strategy.steps[state.step_index].analysis
    assert step is not None
    result = obs.analysis
    i = state.step_index
    if result is not None and result.outcome == "failure":
        return Transition(Phase.ABORTED, i, 0.0, f"step {i}: analysis failed: " + "; ".join(result.reasons))
    if result is not None and result.outcome == "success":
        return Transition(
            Phase.PROGRESSING, i + 1, state.weight, f"step {i}: analysis passed: " + "; ".join(result.reasons)
        )
    if obs.promote:
        return Transition(Phase.PROGRESSING, i + 1, state.weight, f"step {i}: analysis skipped by promotion")
    if _elapsed(state.phase_since, obs.now) >= step.timeout:
        why = "; ".join(result.reasons) if result is not None else "no verdict"
        return Transition(Phase.ABORTED, i, 0.0, f"step {i}: analysis inconclusive after {step.timeout:g}s: {why}")
    return None


def _progressing(state: RolloutState, spec: EndpointSpec, obs: Observation) -> Transition | None:
    if state.phase != Phase.PROGRESSING or not obs.ready:
        return None
    steps = spec.strategy.steps
    i = state.step_index
    if i >= len(steps):
        return Transition(Phase.PROMOTED, i, 100.0, f"all {len(steps)} steps done")
    step = steps[i]
    if step.set_weight is not None:
        return Transition(Phase.PROGRESSING, i + 1, float(step.set_weight), f"step {i}: weight {step.set_weight}%")
    if step.pause is not None:
        until = f"{step.pause.duration:g}s" if step.pause.duration is not None else "promoted"
        return Transition(Phase.PAUSED, i, state.weight, f"step {i}: pause until {until}")
    return Transition(Phase.ANALYSING, i, state.weight, f"step {i}: analysis")


# The policy: tried in order, the first transition wins.
RULES: tuple[Rule, ...] = (_abort, _promote_full, _deadline, _paused, _analysing, _progressing)


def next_transition(state: RolloutState, spec: EndpointSpec, obs: Observation) -> Transition | None:
    """The one transition ``obs`` causes from ``state``, or None (nothing to do yet)."""
    if state.phase in TERMINAL:
        return None
    for rule in RULES:
        transition = rule(state, spec, obs)
        if transition is not None:
            return transition
    return None


def run(state: RolloutState, spec: EndpointSpec, obs: Observation, limit: int = 1000) -> list[Transition]:
    """Every transition ``obs`` causes, in order, until the rollout waits or ends. A
    promotion or a verdict is used by the first pause or analysis it meets, once."""
    transitions: list[Transition] = []
    while len(transitions) < limit:
        transition = next_transition(state, spec, obs)
        if transition is None:
            break
        transitions.append(transition)
        if state.phase in (Phase.PAUSED, Phase.ANALYSING) or obs.abort or obs.promote_full:
            # a promotion, a verdict or an abort is used by the step it was meant for, once
            obs = Observation(now=obs.now, ready=obs.ready)
        state = transition.applied_to(state, obs.now)
    return transitions


@dataclass(frozen=True)
class Share:
    """One version's share of the traffic at a moment."""

    model: str
    version: int
    weight: float  # percent

    @property
    def key(self) -> str:
        return f"{self.model}/{self.version}"


def blend(stable: Sequence[RouteSpec], desired: Sequence[RouteSpec], weight: float) -> list[Share]:
    """The traffic while ``weight`` percent follow ``desired`` and the rest ``stable``:
    stable versions first, then those only the desired routes name (so with a sticky
    routing key, a caller sent to the new version stays there as its weight grows)."""
    shares: dict[str, Share] = {}
    for routes, factor in ((stable, (100.0 - weight) / 100.0), (desired, weight / 100.0)):
        for r in routes:
            before = shares.get(r.key)
            total = (before.weight if before else 0.0) + r.weight * factor
            shares[r.key] = Share(r.model, r.version, round(total, 6))
    return [s for s in shares.values() if s.weight > 0]


__all__ = [
    "RULES",
    "TERMINAL",
    "Observation",
    "Phase",
    "RolloutState",
    "Share",
    "Transition",
    "blend",
    "next_transition",
    "run",
]
