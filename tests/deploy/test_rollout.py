"""The rollout state machine: pure transitions, every one with a reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shipyard.deploy.analysis import AnalysisResult
from shipyard.deploy.rollout import Observation, Phase, RolloutState, Transition, blend, next_transition, run
from shipyard.deploy.spec import EndpointSpec, RouteSpec, parse_spec

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def spec(strategy: dict[str, Any]) -> EndpointSpec:
    return parse_spec({"name": "e", "routes": [{"model": "m", "version": 2, "weight": 100}], "strategy": strategy})


CANARY = spec(
    {
        "type": "canary",
        "steps": [
            {"set_weight": 10},
            {"pause": {"duration": "60s"}},
            {"analysis": {"timeout": "10m"}},
            {"set_weight": 50},
            {"pause": {}},
        ],
        "progress_deadline": "5m",
    }
)


def start(at: datetime = T0) -> RolloutState:
    return RolloutState(Phase.PROGRESSING, 0, 0.0, at, at)


def at(seconds: float, **kwargs: Any) -> Observation:
    return Observation(now=T0 + timedelta(seconds=seconds), **kwargs)


def verdict(outcome: str) -> AnalysisResult:
    return AnalysisResult(outcome=outcome, score=None, metrics=[], reasons=[f"judged {outcome}"])


def apply_all(state: RolloutState, transitions: list[Transition], now: datetime) -> RolloutState:
    for t in transitions:
        state = t.applied_to(state, now)
    return state


def test_a_canary_walks_its_steps_to_promotion() -> None:
    state = start()
    first = run(state, CANARY, at(0))
    assert [(t.phase, t.weight) for t in first] == [(Phase.PROGRESSING, 10.0), (Phase.PAUSED, 10.0)]
    assert first[0].reason == "step 0: weight 10%"
    state = apply_all(state, first, T0)
    assert run(state, CANARY, at(30)) == []  # still pausing
    resumed = run(state, CANARY, at(60))
    assert [t.phase for t in resumed] == [Phase.PROGRESSING, Phase.ANALYSING]
    assert resumed[0].reason == "step 1: paused 60s"
    state = apply_all(state, resumed, T0 + timedelta(seconds=60))
    assert run(state, CANARY, at(90, analysis=verdict("inconclusive"))) == []
    passed = run(state, CANARY, at(120, analysis=verdict("success")))
    assert [(t.phase, t.weight) for t in passed] == [
        (Phase.PROGRESSING, 10.0),
        (Phase.PROGRESSING, 50.0),
        (Phase.PAUSED, 50.0),
    ]
    assert "analysis passed: judged success" in passed[0].reason
    state = apply_all(state, passed, T0 + timedelta(seconds=120))
    assert run(state, CANARY, at(10_000)) == []  # an indefinite pause waits for a person
    done = run(state, CANARY, at(10_000, promote=True))
    assert [(t.phase, t.weight) for t in done] == [(Phase.PROGRESSING, 50.0), (Phase.PROMOTED, 100.0)]
    assert done[-1].reason == "all 5 steps done"
    assert next_transition(apply_all(state, done, T0), CANARY, at(0, abort="x")) is None  # terminal


def test_a_failed_analysis_aborts_to_weight_zero() -> None:
    state = RolloutState(Phase.ANALYSING, 2, 10.0, T0, T0)
    (t,) = run(state, CANARY, at(5, analysis=verdict("failure")))
    assert (t.phase, t.weight) == (Phase.ABORTED, 0.0)
    assert t.reason == "step 2: analysis failed: judged failure"


def test_an_analysis_inconclusive_past_its_timeout_aborts() -> None:
    state = RolloutState(Phase.ANALYSING, 2, 10.0, T0, T0)
    assert run(state, CANARY, at(599, analysis=verdict("inconclusive"))) == []
    (t,) = run(state, CANARY, at(600, analysis=verdict("inconclusive")))
    assert t.phase == Phase.ABORTED
    assert "inconclusive after 600s: judged inconclusive" in t.reason


def test_nothing_moves_until_the_new_version_is_ready_and_the_deadline_aborts() -> None:
    assert run(start(), CANARY, at(10, ready=False)) == []
    (t,) = run(start(), CANARY, at(300, ready=False))
    assert t.phase == Phase.ABORTED
    assert "progress deadline (300s)" in t.reason


def test_abort_and_full_promotion_win_from_any_live_phase() -> None:
    for phase in (Phase.PROGRESSING, Phase.PAUSED, Phase.ANALYSING):
        state = RolloutState(phase, 1 if phase == Phase.PAUSED else 2 if phase == Phase.ANALYSING else 0, 10.0, T0, T0)
        (aborted,) = run(state, CANARY, at(1, abort="rolled back by ops"))
        assert (aborted.phase, aborted.weight, aborted.reason) == (Phase.ABORTED, 0.0, "rolled back by ops")
        (promoted,) = run(state, CANARY, at(1, promote_full=True))
        assert (promoted.phase, promoted.weight) == (Phase.PROMOTED, 100.0)


def test_blue_green_stays_at_zero_until_the_switch() -> None:
    bg = spec({"type": "blue_green", "steps": [{"pause": {"duration": 10}}]})
    first = run(start(), bg, at(0))
    assert [(t.phase, t.weight) for t in first] == [(Phase.PAUSED, 0.0)]
    state = apply_all(start(), first, T0)
    switch = run(state, bg, at(10))
    assert [(t.phase, t.weight) for t in switch] == [(Phase.PROGRESSING, 0.0), (Phase.PROMOTED, 100.0)]


def test_blend_weights_and_order() -> None:
    stable = [RouteSpec(model="m", version=1, weight=60), RouteSpec(model="m", version=2, weight=40)]
    desired = [RouteSpec(model="m", version=2, weight=50), RouteSpec(model="m", version=3, weight=50)]
    shares = blend(stable, desired, 20)
    assert [(s.key, s.weight) for s in shares] == [("m/1", 48.0), ("m/2", 42.0), ("m/3", 10.0)]
    assert sum(s.weight for s in shares) == 100.0
    assert [s.key for s in blend(stable, desired, 0)] == ["m/1", "m/2"]
    assert [(s.key, s.weight) for s in blend(stable, desired, 100)] == [("m/2", 50.0), ("m/3", 50.0)]
