"""Canary analysis decides with a test, not a bare threshold: synthetic samples whose
difference is known."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from shipyard.deploy.analysis import AnalysisSpec, MetricCheck, analyse, default_spec, judge_metric
from shipyard.errors import InvalidArgument


def _samples(seed: int, n: int, *, error_rate: float = 0.0, latency_scale: float = 1.0) -> dict[str, list[float]]:
    rng = np.random.default_rng(seed)
    return {
        "error": (rng.random(n) < error_rate).astype(float).tolist(),
        "latency_ms": (rng.lognormal(mean=1.0, sigma=0.4, size=n) * latency_scale).tolist(),
    }


def test_same_behaviour_succeeds() -> None:
    result = analyse(default_spec(), _samples(1, 400), _samples(2, 400))
    assert result.outcome == "success"
    assert result.score == 1.0
    assert {m.decision for m in result.metrics} == {"pass"}


def test_erroring_candidate_fails_on_the_critical_metric() -> None:
    result = analyse(default_spec(), _samples(1, 400), _samples(2, 400, error_rate=0.2))
    assert result.outcome == "failure"
    error = next(m for m in result.metrics if m.metric == "error")
    assert error.decision == "fail"
    assert error.candidate is not None
    assert error.candidate > 0.1
    assert error.p_value is not None
    assert error.p_value < 0.05
    assert "critical metric failed" in result.reasons[0]


def test_slow_candidate_fails_on_latency() -> None:
    result = analyse(default_spec(), _samples(1, 400), _samples(2, 400, latency_scale=2.0))
    latency = next(m for m in result.metrics if m.metric == "latency_ms")
    assert latency.decision == "fail"
    # errors pass, latency fails: score 0.5 is below the marginal score
    assert result.outcome == "failure"
    assert result.score == pytest.approx(0.5)


def test_too_few_samples_is_inconclusive_not_a_guess() -> None:
    result = analyse(default_spec(), _samples(1, 10), _samples(2, 10, error_rate=0.5))
    assert result.outcome == "inconclusive"
    assert result.score is None
    assert all(m.decision == "inconclusive" for m in result.metrics)
    assert "needs 50 samples" in result.reasons[0]


def test_significant_but_tolerated_difference_passes_with_a_note() -> None:
    check = MetricCheck(metric="latency_ms", summary="mean", tolerance=0.5)
    rng = np.random.default_rng(3)
    stable = rng.normal(10, 1, 2000)
    candidate = rng.normal(11, 1, 2000)  # 10 % slower: clearly significant, within 50 %
    result = judge_metric(check, stable.tolist(), candidate.tolist(), alpha=0.05)
    assert result.decision == "pass"
    assert "within tolerance" in result.reason


def test_beyond_tolerance_without_significance_passes() -> None:
    check = MetricCheck(metric="latency_ms", summary="p99", min_samples=5)
    stable = [1.0, 2.0, 3.0, 4.0, 5.0]
    candidate = [1.0, 2.0, 3.0, 4.0, 5.5]  # larger p99, but five samples prove nothing
    result = judge_metric(check, stable, candidate, alpha=0.05)
    assert result.decision == "pass"
    assert "not significant" in result.reason


def test_zero_baseline_error_rate_admits_the_absolute_tolerance() -> None:
    stable = [0.0] * 1000
    candidate = [0.0] * 995 + [1.0] * 5  # 0.5 % errors against a clean stable version
    strict = judge_metric(MetricCheck(metric="error", critical=True), stable, candidate, alpha=0.05)
    tolerant = judge_metric(
        MetricCheck(metric="error", critical=True, absolute_tolerance=0.01), stable, candidate, alpha=0.05
    )
    assert strict.decision == "fail"
    assert tolerant.decision == "pass"


def test_all_equal_samples_pass() -> None:
    result = judge_metric(MetricCheck(metric="error"), [0.0] * 100, [0.0] * 100, alpha=0.05)
    assert result.decision == "pass"
    assert result.p_value == 1.0


def test_higher_is_better_quality_metric() -> None:
    rng = np.random.default_rng(4)
    spec = AnalysisSpec(checks=[MetricCheck(metric="accuracy", direction="higher_is_better", tolerance=0.02)])
    good = analyse(spec, {"accuracy": rng.binomial(1, 0.9, 1000)}, {"accuracy": rng.binomial(1, 0.9, 1000)})
    bad = analyse(spec, {"accuracy": rng.binomial(1, 0.9, 1000)}, {"accuracy": rng.binomial(1, 0.7, 1000)})
    assert good.outcome == "success"
    assert bad.outcome == "failure"


def test_non_finite_samples_are_ignored() -> None:
    check = MetricCheck(metric="latency_ms", min_samples=3)
    result = judge_metric(check, [1.0, 2.0, float("nan")], [1.0, 2.0, float("inf")], alpha=0.05)
    assert result.decision == "inconclusive"
    assert (result.n_stable, result.n_candidate) == (2, 2)


def test_missing_samples_name_the_metric() -> None:
    with pytest.raises(InvalidArgument, match="latency_ms"):
        analyse(default_spec(), {"error": [0.0]}, {"error": [0.0]})


def test_spec_validation() -> None:
    with pytest.raises(ValidationError, match="checked once"):
        AnalysisSpec(checks=[MetricCheck(metric="error"), MetricCheck(metric="error")])
    with pytest.raises(ValidationError, match="marginal_score"):
        AnalysisSpec(checks=[MetricCheck(metric="error")], pass_score=0.5, marginal_score=0.9)
    with pytest.raises(ValidationError):
        MetricCheck(metric="error", tolerance=-1)
