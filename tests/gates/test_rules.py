"""The rule language and the checks, on hand-made evaluation results (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shipyard.evaluation.schemas import DatasetRef, Delta, Estimate, EvaluationResult, McNemar, ModelRef, SliceResult
from shipyard.gates.checks import GateContext, check_rule, signature_problems
from shipyard.gates.parser import parse_policy, policy_digest
from shipyard.gates.rules import MetricRule, PolicySyntaxError, ThresholdRule
from shipyard.gates.stats import holm

NOW = datetime(2026, 12, 5, tzinfo=UTC)


def part(n: int = 500, **metrics: tuple[float, float, float, float | None]) -> SliceResult:
    """``name=(candidate, baseline, delta_se, _)``: a slice with paired deltas."""
    out = SliceResult(n=n, metrics={})
    for name, (value, base, se, _) in metrics.items():
        out.metrics[name] = Estimate(value=value, low=value - 2 * se, high=value + 2 * se)
        out.baseline[name] = Estimate(value=base)
        diff = value - base
        out.delta[name] = Delta(value=diff, low=diff - 1.96 * se, high=diff + 1.96 * se, se=se)
    return out


def result(
    overall: SliceResult, slices: dict[str, SliceResult] | None = None, baseline: int | None = 1
) -> EvaluationResult:
    return EvaluationResult(
        model_type="classifier",
        model=ModelRef(uri="models:/m/2", name="m", version=2),
        baseline=None if baseline is None else ModelRef(uri="models:/m@production", name="m", version=baseline),
        dataset=DatasetRef(name="eval", digest="d" * 64, rows=overall.n),
        target="label",
        bootstrap=200,
        seed=0,
        confidence=0.95,
        overall=overall,
        slices=slices or {},
        latency={"p99_latency_ms": 12.0},
    )


def ctx(evaluation: EvaluationResult | None, *, current: int | None = 1, **extra: Any) -> GateContext:
    values: dict[str, Any] = {
        "model": "m",
        "alias": "production",
        "candidate_version": 2,
        "current_version": current,
        "evaluation": evaluation,
        "serialization": "skops",
        "candidate_signature": None,
        "baseline_signature": None,
        "dataset_registered_at": NOW - timedelta(days=3),
        "now": NOW,
    }
    return GateContext(**(values | extra))


def run(text: str, context: GateContext) -> Any:
    return check_rule(parse_policy(text)[0], context)


@pytest.mark.parametrize(
    ("text", "column", "token"),
    [
        ("auc => 0.8", 5, "="),
        ("auc >= ", 7, ""),
        ("auc >= 0.8 extra", 12, "extra"),
        ("auc >= 0.8 $", 12, "$"),
        ("recall[slice=EU] >= 1", 7, "[slice=EU]"),
        ("artifact format in skops", 20, "skops"),
        ("signature compatible baseline", 22, "baseline"),
        ("evaluated on a dataset registered within 30 weeks", 45, "weeks"),
        ("auc meets threshold 0.8", 21, "0.8"),
        ("auc >= 0.8; rows >= baseline * x", 32, "x"),
    ],
)
def test_parse_errors_name_the_position_and_token(text: str, column: int, token: str) -> None:
    with pytest.raises(PolicySyntaxError) as info:
        parse_policy("rows >= 10\n" + text)
    assert info.value.details == {"field": "policy", "line": 2, "column": column, "token": token}
    assert f"line 2, column {column}" in info.value.message


def test_every_rule_form_parses() -> None:
    rules = parse_policy(
        "auc >= 0.85\nauc >= baseline.auc - 0.005  # margin\nrecall[slice=region:EU] >= baseline - 0.01\n"
        "p99_latency_ms <= 50; rows >= 500\nlog_loss <= baseline * 0.98\nf1 >= baseline + 2%\n"
        "accuracy > baseline significant\nauc meets threshold=0.8 min_relative_change=0.01 greater_is_better=true\n"
        "signature compatible with baseline\nartifact format in [skops, onnx, xgboost-json]\n"
        "evaluated on a dataset registered within 30 days"
    )
    assert len(rules) == 12
    first = rules[0]
    assert isinstance(first, MetricRule)
    assert first.metric.name == "roc_auc"  # auc is an alias
    percent = rules[6]
    assert isinstance(percent, MetricRule)
    assert percent.baseline is not None
    assert percent.baseline.factor == pytest.approx(1.02)
    assert isinstance(rules[8], ThresholdRule)
    assert policy_digest("auc >= 0.8\n# c\n\n  rows   >= 5") == policy_digest("auc >= 0.8; rows >= 5")


def test_thresholds_and_baseline_comparisons_report_the_numbers() -> None:
    evaluation = result(part(roc_auc=(0.90, 0.91, 0.004, None)))
    failed = run("auc >= baseline.auc - 0.005", ctx(evaluation))
    assert failed.status == "fail"
    assert failed.numbers["target"] == pytest.approx(0.905)
    assert "delta -0.01" in failed.message
    passed = run("auc >= 0.85", ctx(evaluation))
    assert passed.status == "pass"
    assert run("p99_latency_ms <= 50", ctx(evaluation)).status == "pass"
    assert run("rows >= 1000", ctx(evaluation)).status == "fail"


def test_an_insignificant_improvement_is_reported_as_such() -> None:
    noisy = run("auc >= baseline", ctx(result(part(roc_auc=(0.912, 0.910, 0.01, None)))))
    assert noisy.status == "pass"
    assert "not statistically significant" in noisy.message
    strict = run("auc >= baseline significant", ctx(result(part(roc_auc=(0.912, 0.910, 0.01, None)))))
    assert strict.status == "fail"
    assert "requires significance" in strict.message
    clear = run("auc >= baseline significant", ctx(result(part(roc_auc=(0.95, 0.90, 0.005, None)))))
    assert clear.status == "pass"


def test_non_inferiority_margin_is_reported() -> None:
    shown = run("auc >= baseline - 0.02", ctx(result(part(roc_auc=(0.90, 0.90, 0.002, None)))))
    assert "non-inferiority within margin 0.02 shown" in shown.message
    wide = run("auc >= baseline - 0.02", ctx(result(part(roc_auc=(0.90, 0.90, 0.05, None)))))
    assert wide.status == "pass"
    assert "not shown" in wide.message


def test_accuracy_uses_mcnemar() -> None:
    overall = part(accuracy=(0.93, 0.90, 0.01, None))
    overall.mcnemar = McNemar(candidate_only=30, baseline_only=10, p_value=0.002)
    outcome = run("accuracy > baseline significant", ctx(result(overall)))
    assert outcome.status == "pass"
    assert outcome.numbers["mcnemar_p"] == 0.002
    assert "McNemar p=0.002" in outcome.message


def test_metric_threshold_semantics_and_a_zero_baseline() -> None:
    evaluation = result(part(brier=(0.10, 0.12, 0.01, None), pr_auc=(0.30, 0.0, 0.01, None)))
    lower = run("brier meets threshold=0.15 min_absolute_change=0.01", ctx(evaluation))
    assert lower.status == "pass"  # lower is better: 0.10 <= 0.15 and improved by 0.02
    assert lower.numbers["greater_is_better"] is False
    too_little = run("brier meets min_relative_change=0.5", ctx(evaluation))
    assert too_little.status == "fail"  # improved by 16.7%, not 50%
    zero = run("pr_auc meets min_relative_change=0.1", ctx(evaluation))
    assert zero.status == "pass"
    assert "baseline is 0" in zero.message
    flat = result(part(pr_auc=(0.0, 0.0, 0.01, None)))
    assert run("pr_auc meets min_relative_change=0.1", ctx(flat)).status == "fail"  # not strictly better
    assert run("pr_auc >= baseline * 1.1", ctx(flat)).status == "fail"
    assert run("pr_auc >= baseline * 1.1", ctx(flat)).numbers["zero_baseline"] is True


def test_baseline_rules_need_the_version_the_alias_holds() -> None:
    evaluation = result(part(roc_auc=(0.9, 0.8, 0.01, None)), baseline=1)
    stale = run("auc >= baseline", ctx(evaluation, current=3))
    assert stale.status == "fail"
    assert "compared with version 1 but @production is version 3" in stale.message
    first = run("auc >= baseline", ctx(result(part(roc_auc=(0.9, 0.8, 0.01, None)), baseline=None), current=None))
    assert first.status == "skipped"
    assert run("auc >= 0.5", ctx(None)).status == "fail"


def test_slice_wildcards_use_holm() -> None:
    slices = {
        "region:EU": part(100, recall=(0.70, 0.90, 0.03, None)),  # a clear regression
        "region:US": part(400, recall=(0.89, 0.90, 0.02, None)),  # slightly below: noise
        "region:APAC": part(50, recall=(0.95, 0.90, 0.05, None)),
    }
    evaluation = result(part(recall=(0.9, 0.89, 0.01, None)), slices)
    outcome = run("recall[slice=region:*] >= baseline", ctx(evaluation))
    assert outcome.status == "fail"
    assert "significant regression in region:EU" in outcome.message
    assert "region:US (Holm-adjusted" in outcome.message
    del slices["region:EU"]
    assert run("recall[slice=*] >= baseline", ctx(result(part(recall=(0.9, 0.89, 0.01, None)), slices))).passed
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_format_signature_and_dataset_rules() -> None:
    evaluation = result(part(roc_auc=(0.9, 0.8, 0.01, None)))
    pickle = run("artifact format in [skops, onnx]", ctx(evaluation, serialization="pickle"))
    assert pickle.status == "fail"
    assert "artifact format is pickle" in pickle.message
    old = run("evaluated on a dataset registered within 2 days", ctx(evaluation))
    assert old.status == "fail"
    assert "3.0 days ago" in old.message
    missing = run("evaluated on a dataset registered within 30 days", ctx(evaluation, dataset_registered_at=None))
    assert "not registered" in missing.message
    base = {"inputs": [{"kind": "column", "name": "a", "type": "double"}], "outputs": []}
    wider = {"inputs": [*base["inputs"], {"kind": "column", "name": "b", "type": "double"}], "outputs": []}
    assert signature_problems(base, base) == []
    assert signature_problems(wider, base) == [
        "input 'b' is required by the candidate but callers of the baseline do not send it"
    ]
