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


def _rules_spec(*rules: str, min_samples: int = 50) -> AnalysisSpec:
    return AnalysisSpec(checks=[MetricCheck(metric="error", min_samples=min_samples)], rules=list(rules))


def _flat(n: int, *, errors: int = 0, latency_ms: float = 10.0) -> dict[str, list[float]]:
    return {"error": [1.0] * errors + [0.0] * (n - errors), "latency_ms": [latency_ms] * n}


def test_a_passing_rule_is_reported_with_its_numbers() -> None:
    result = analyse(_rules_spec("p99_latency_ms <= 50"), _flat(100), _flat(100, latency_ms=20.0))
    assert result.outcome == "success"
    rule = next(m for m in result.metrics if m.metric == "p99_latency_ms <= 50")
    assert (rule.decision, rule.critical, rule.candidate, rule.allowed) == ("pass", True, 20.0, 50.0)
    assert (rule.n_stable, rule.n_candidate) == (100, 100)
    assert "p99_latency_ms = 20, required <= 50" in rule.reason


def test_a_failing_rule_fails_the_analysis_outright() -> None:
    # 2 % errors: within the check's noise (not significant on 100 samples) but over the rule's limit
    result = analyse(_rules_spec("error_rate <= 0.01"), _flat(100), _flat(100, errors=2))
    assert result.outcome == "failure"
    rule = next(m for m in result.metrics if m.metric == "error_rate <= 0.01")
    assert rule.decision == "fail"
    assert rule.candidate == pytest.approx(0.02)
    assert any("rule 'error_rate <= 0.01'" in r for r in result.reasons)


def test_baseline_arithmetic_reads_the_stable_version() -> None:
    stable, slow = _flat(100, latency_ms=40.0), _flat(100, latency_ms=50.0)
    relative = analyse(_rules_spec("p99_latency_ms <= baseline * 1.2"), stable, slow)
    rule = relative.metrics[-1]
    assert (rule.decision, rule.stable) == ("fail", 40.0)
    assert rule.allowed == pytest.approx(48.0)
    percent = analyse(_rules_spec("p99_latency_ms <= baseline + 30%"), stable, slow)
    assert percent.metrics[-1].decision == "pass"
    other = analyse(_rules_spec("mean_latency_ms <= baseline.p99_latency_ms + 5"), stable, _flat(100, latency_ms=44.0))
    assert (other.metrics[-1].decision, other.metrics[-1].allowed) == ("pass", 45.0)
    errors = analyse(_rules_spec("error_rate <= baseline + 0.01", "requests >= 100"), _flat(100), _flat(100, errors=1))
    assert [m.decision for m in errors.metrics[1:]] == ["pass", "pass"]


def test_a_rule_with_too_few_samples_is_inconclusive() -> None:
    spec = _rules_spec("p99_latency_ms <= 50", min_samples=2)
    spec = AnalysisSpec(checks=[*spec.checks, MetricCheck(metric="latency_ms", min_samples=80)], rules=spec.rules)
    result = analyse(spec, _flat(60), _flat(60, latency_ms=100.0))  # the checks decide; the rule needs 80
    assert result.outcome == "inconclusive"
    rule = result.metrics[-1]
    assert rule.decision == "inconclusive"
    assert "needs 80 samples on each side, has 60 stable and 60 candidate" in rule.reason
    assert rule.reason in result.reasons


@pytest.mark.parametrize(
    ("rule", "why"),
    [
        ("artifact format in [skops, onnx]", "promotion gate"),
        ("signature compatible with baseline", "signature"),
        ("evaluated on a dataset registered within 30 days", "promotion gate"),
        ("error_rate[slice=region:EU] <= 0.01", "slices"),
        ("auc >= 0.8", "'roc_auc' is not measured on live traffic"),
        ("error_rate < baseline significant", "'significant'"),
        ("error_rate meets threshold=0.01", "'meets'"),
        ("error_rate <= 0.01; requests >= 10", "one rule per entry"),
        ("error_rate = 0.01", "column 12: expected a comparison"),
    ],
)
def test_offline_only_rules_are_refused_when_the_spec_is_parsed(rule: str, why: str) -> None:
    from shipyard.deploy.spec import parse_spec
    from shipyard.errors import ValidationFailed

    body = {
        "name": "iris",
        "routes": [{"model": "iris", "version": 1, "weight": 100}],
        "analysis": {"checks": [{"metric": "error"}], "rules": ["p99_latency_ms <= 50", rule]},
    }
    with pytest.raises(ValidationFailed, match=r"^analysis\.rules\.1: ") as caught:
        parse_spec(body)
    assert why in caught.value.message
    assert caught.value.details["fields"][0]["field"] == "analysis.rules.1"


def test_no_rules_leaves_the_stored_form_as_before() -> None:
    assert "rules" not in default_spec().model_dump(mode="json")  # existing specs keep their digest
    assert _rules_spec("requests >= 5").model_dump(mode="json")["rules"] == ["requests >= 5"]
