"""Check typed rules against what is known of a candidate version: its evaluation, the version
the alias holds now (the baseline), its manifest's serialization, its evaluation dataset.

Pure functions over a :class:`GateContext`; every rule yields a :class:`RuleOutcome` with the
numbers. Semantics (see ``docs/gates.md``):

- a comparison passes when the point estimate meets it (MLflow's ``MetricThreshold`` floor);
  the paired bootstrap interval of the delta and a one-sided p-value are reported with it, and
  an "improvement" that is not significant says so. ``significant`` makes significance required;
- ``accuracy`` comparisons with the baseline also report McNemar's exact test (and use it for
  ``significant``);
- a negative offset (``auc >= baseline - 0.005``) is a non-inferiority margin: the report says
  whether the interval's bound clears it;
- ``[slice=*]`` / ``[slice=column:*]``: a slice fails when its point estimate misses the target
  *and* the regression is significant after Holm's correction over the slices of the rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from shipyard.evaluation.directions import greater_is_better
from shipyard.evaluation.schemas import EvaluationResult, SliceResult
from shipyard.gates import stats
from shipyard.gates.rules import (
    DatasetAgeRule,
    FormatRule,
    MetricRef,
    MetricRule,
    Rule,
    SignatureRule,
    ThresholdRule,
)

ALPHA = 0.05
ACCURACY_METRICS = frozenset({"accuracy"})


class RuleOutcome(BaseModel):
    rule: str
    status: Literal["pass", "fail", "skipped"]
    message: str
    numbers: dict[str, Any] = Field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status != "fail"


@dataclass(frozen=True)
class GateContext:
    model: str
    alias: str
    candidate_version: int
    current_version: int | None  # the version the alias points at now: the baseline
    evaluation: EvaluationResult | None
    serialization: str | None
    candidate_signature: dict[str, Any] | None
    baseline_signature: dict[str, Any] | None
    dataset_registered_at: datetime | None
    now: datetime
    alpha: float = ALPHA


class _Fail(Exception):
    def __init__(self, message: str, **numbers: Any) -> None:
        super().__init__(message)
        self.message = message
        self.numbers = numbers


def _fmt(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.4g}"


def _evaluation(ctx: GateContext) -> EvaluationResult:
    if ctx.evaluation is None:
        raise _Fail(
            f"version {ctx.candidate_version} of '{ctx.model}' has no evaluation; run "
            f"shipyard.evaluate('models:/{ctx.model}/{ctx.candidate_version}', data=..., "
            f"baseline='models:/{ctx.model}@{ctx.alias}')"
        )
    return ctx.evaluation


def _part(result: EvaluationResult, slice_key: str | None) -> SliceResult:
    if slice_key is None:
        return result.overall
    part = result.slices.get(slice_key)
    if part is None:
        known = ", ".join(result.slices) or "none"
        raise _Fail(f"the evaluation has no slice '{slice_key}' (slices: {known}); evaluate with slices=[...]")
    return part


def _value(result: EvaluationResult, part: SliceResult, ref: MetricRef, *, baseline: bool = False) -> float:
    if ref.name == "rows":
        return float(part.n)
    if not baseline and ref.slice is None and ref.name in result.latency:
        return result.latency[ref.name]
    metrics = part.baseline if baseline else part.metrics
    estimate = metrics.get(ref.key)
    if estimate is None:
        known = ", ".join(sorted(part.metrics)[:30])
        raise _Fail(f"the evaluation has no metric '{ref.key}'{' for the baseline' if baseline else ''} (has: {known})")
    if estimate.value is None:
        raise _Fail(f"'{ref.key}' is undefined on these rows (e.g. one class only)")
    return estimate.value


def _baseline_ready(ctx: GateContext, result: EvaluationResult) -> bool:
    """False when there is nothing to compare with (the alias is new); raises when the
    evaluation compared with another version than the alias holds now."""
    if ctx.current_version is None:
        return False
    fix = (
        f"re-run shipyard.evaluate('models:/{ctx.model}/{ctx.candidate_version}', data=..., "
        f"baseline='models:/{ctx.model}@{ctx.alias}')"
    )
    if result.baseline is None:
        raise _Fail(f"the evaluation has no baseline but @{ctx.alias} is version {ctx.current_version}; {fix}")
    if result.baseline.version != ctx.current_version:
        raise _Fail(
            f"the evaluation compared with version {result.baseline.version} but @{ctx.alias} is version "
            f"{ctx.current_version} now; {fix}"
        )
    return True


def _gib(result: EvaluationResult, name: str) -> bool:
    return greater_is_better(name) and name not in result.lower_is_better


def _compare(rule: MetricRule, result: EvaluationResult, part: SliceResult, ctx: GateContext) -> dict[str, Any]:
    """Numbers for one comparison on one part: value, target, pass, and the statistics."""
    value = _value(result, part, rule.metric)
    if rule.threshold is not None:
        estimate = part.metrics.get(rule.metric.key)
        return {
            "value": value,
            "target": rule.threshold,
            "low": estimate.low if estimate else None,
            "high": estimate.high if estimate else None,
            "met": stats.holds(value, rule.op, rule.threshold),
        }
    assert rule.baseline is not None
    term = rule.baseline
    base = _value(result, part, term.metric, baseline=True)
    numbers: dict[str, Any] = {"value": value, "baseline": base}
    op, target, zero_baseline = stats.baseline_target(rule.op, base, term.offset, term.factor)
    if zero_baseline:
        numbers |= {"target": target, "met": stats.holds(value, op, target), "zero_baseline": True}
        return numbers
    numbers |= {"target": target, "met": stats.holds(value, op, target)}
    delta = part.delta.get(rule.metric.key) if term.metric.key == rule.metric.key else None
    if delta is not None and delta.value is not None:
        required = target - base
        z = stats.z_score(delta.value, required, delta.se, rule.op)
        numbers |= {
            "delta": delta.value,
            "delta_low": delta.low,
            "delta_high": delta.high,
            "required_change": required,
            "p_meets": stats.p_meets(z),
            "p_regress": stats.p_regress(z),
        }
    if rule.metric.name in ACCURACY_METRICS and part.mcnemar is not None:
        numbers["mcnemar_p"] = part.mcnemar.p_value
        numbers["candidate_only"] = part.mcnemar.candidate_only
        numbers["baseline_only"] = part.mcnemar.baseline_only
    return numbers


def _significant(numbers: dict[str, Any], rule: MetricRule, alpha: float) -> bool | None:
    if "mcnemar_p" in numbers and numbers.get("required_change", 0.0) == 0.0:
        better = numbers["candidate_only"] > numbers["baseline_only"]
        return bool(numbers["mcnemar_p"] < alpha and better)
    p = numbers.get("p_meets")
    return None if p is None else bool(p < alpha)


def _describe(rule: MetricRule, numbers: dict[str, Any], significant: bool | None, confidence: float) -> str:
    target = f"{rule.op} {_fmt(numbers['target'])}"
    head = f"{rule.metric} = {_fmt(numbers['value'])}"
    if "baseline" in numbers:
        head += f", baseline {_fmt(numbers['baseline'])}"
    if numbers.get("zero_baseline"):
        return head + " (baseline is 0: relative change undefined, required strictly better — MLflow's rule)"
    text = f"{head}, required {target}"
    if "delta" in numbers:
        ci = ""
        if numbers["delta_low"] is not None:
            ci = f" [{confidence:.0%} CI {_fmt(numbers['delta_low'])}, {_fmt(numbers['delta_high'])}]"
        text += f"; delta {numbers['delta']:+.4g}{ci}"
        if "mcnemar_p" in numbers:
            text += f", McNemar p={numbers['mcnemar_p']:.3g}"
        required = numbers["required_change"]
        if (required < 0 and rule.op in (">=", ">")) or (required > 0 and rule.op in ("<=", "<")):
            bound = numbers["delta_low"] if rule.op in (">=", ">") else numbers["delta_high"]
            if bound is not None:
                shown = stats.holds(bound, rule.op, required)
                text += f"; non-inferiority within margin {abs(required):.4g} {'shown' if shown else 'not shown'}"
        elif significant is not None and numbers["met"]:
            text += "; significant" if significant else "; not statistically significant"
    return text


def _metric_rule(rule: MetricRule, ctx: GateContext) -> RuleOutcome:
    result = _evaluation(ctx)
    if rule.baseline is not None and not _baseline_ready(ctx, result):
        return RuleOutcome(
            rule=rule.text, status="skipped", message=f"no version holds @{ctx.alias} yet: nothing to compare with"
        )
    if rule.metric.wildcard:
        return _slices_rule(rule, result, ctx)
    numbers = _compare(rule, result, _part(result, rule.metric.slice), ctx)
    significant = _significant(numbers, rule, ctx.alpha) if rule.baseline is not None else None
    numbers["significant"] = significant
    ok = bool(numbers["met"]) and (not rule.significant or bool(significant))
    message = _describe(rule, numbers, significant, result.confidence)
    if rule.significant and numbers["met"] and not significant:
        message += " (the rule requires significance)"
    return RuleOutcome(rule=rule.text, status="pass" if ok else "fail", message=message, numbers=numbers)


def _slices_rule(rule: MetricRule, result: EvaluationResult, ctx: GateContext) -> RuleOutcome:
    selector = rule.metric.slice or "*"
    prefix = "" if selector == "*" else selector[:-1]
    keys = [k for k in result.slices if k.startswith(prefix)]
    if not keys:
        raise _Fail(f"the evaluation has no slices matching '{selector}'; evaluate with slices=[...]")
    per: dict[str, dict[str, Any]] = {}
    for key in keys:
        one = MetricRule(rule.text, MetricRef(rule.metric.name, rule.metric.cls, key), rule.op, rule.threshold)
        if rule.baseline is not None:
            term = rule.baseline
            one = MetricRule(
                rule.text,
                one.metric,
                rule.op,
                baseline=type(term)(MetricRef(term.metric.name, term.metric.cls, key), term.offset, term.factor),
            )
        try:
            per[key] = _compare(one, result, result.slices[key], ctx)
        except _Fail as exc:
            per[key] = {"met": None, "error": exc.message}
    tested = [k for k in keys if per[k].get("p_regress") is not None]
    for key, adjusted in zip(tested, stats.holm([per[k]["p_regress"] for k in tested]), strict=True):
        per[key]["p_regress_holm"] = adjusted
    failing, noisy, undefined = [], [], []
    for key in keys:
        numbers = per[key]
        if numbers["met"] is None:
            undefined.append(key)
        elif not numbers["met"]:
            p_holm = numbers.get("p_regress_holm")
            if p_holm is None or p_holm < ctx.alpha:
                failing.append(f"{key} ({_fmt(numbers['value'])} vs required {_fmt(numbers['target'])})")
            else:
                noisy.append(f"{key} (Holm-adjusted p={p_holm:.3g})")
    parts = [f"{len(keys)} slices checked"]
    if failing:
        parts.append("significant regression in " + ", ".join(failing))
    if noisy:
        parts.append("below target but not significant after Holm correction: " + ", ".join(noisy))
    if undefined:
        parts.append("undefined in " + ", ".join(undefined))
    return RuleOutcome(
        rule=rule.text, status="fail" if failing else "pass", message="; ".join(parts), numbers={"slices": per}
    )


def _threshold_rule(rule: ThresholdRule, ctx: GateContext) -> RuleOutcome:
    result = _evaluation(ctx)
    part = _part(result, rule.metric.slice)
    value = _value(result, part, rule.metric)
    gib = rule.greater_is_better if rule.greater_is_better is not None else _gib(result, rule.metric.name)
    checks: list[tuple[str, bool]] = []
    numbers: dict[str, Any] = {"value": value, "greater_is_better": gib}
    if rule.threshold is not None:
        met = value >= rule.threshold if gib else value <= rule.threshold
        checks.append((f"threshold {'>=' if gib else '<='} {_fmt(rule.threshold)}", met))
    if rule.min_absolute_change is not None or rule.min_relative_change is not None:
        if not _baseline_ready(ctx, result):
            checks.append((f"no version holds @{ctx.alias} yet: changes not compared", True))
        else:
            base = _value(result, part, rule.metric, baseline=True)
            change = value - base if gib else base - value
            numbers |= {"baseline": base, "change": change}
            if rule.min_absolute_change is not None:
                checks.append(
                    (
                        f"absolute change {change:+.4g} >= {_fmt(rule.min_absolute_change)}",
                        change >= rule.min_absolute_change,
                    )
                )
            if rule.min_relative_change is not None:
                if base == 0:
                    checks.append(("baseline is 0: relative change undefined, required strictly better", change > 0))
                else:
                    relative = change / abs(base)
                    numbers["relative_change"] = relative
                    checks.append(
                        (
                            f"relative change {relative:+.2%} >= {rule.min_relative_change:.2%}",
                            relative >= rule.min_relative_change,
                        )
                    )
    ok = all(met for _, met in checks)
    failed = [text for text, met in checks if not met]
    message = f"{rule.metric} = {_fmt(value)}: " + (
        "; ".join(t for t, _ in checks) if ok else "failed " + "; ".join(failed)
    )
    return RuleOutcome(rule=rule.text, status="pass" if ok else "fail", message=message, numbers=numbers)


def _specs(signature: dict[str, Any] | None, part: str) -> dict[str, dict[str, Any]]:
    specs = (signature or {}).get(part) or []
    return {str(s.get("name") or i): s for i, s in enumerate(specs)}


def signature_problems(candidate: dict[str, Any] | None, baseline: dict[str, Any] | None) -> list[str]:
    """Why a caller of the baseline could not call the candidate (empty: compatible)."""
    if baseline is None:
        return []
    if candidate is None:
        return ["the candidate has no signature but the baseline has one"]
    problems = []
    old_in, new_in = _specs(baseline, "inputs"), _specs(candidate, "inputs")
    for name, spec in new_in.items():
        if name not in old_in and not spec.get("optional"):
            problems.append(f"input '{name}' is required by the candidate but callers of the baseline do not send it")
    for name, spec in old_in.items():
        new = new_in.get(name)
        if new is not None and (new.get("type") != spec.get("type") or new.get("shape") != spec.get("shape")):
            problems.append(f"input '{name}' changed from {spec.get('type')} to {new.get('type')}")
    old_out, new_out = _specs(baseline, "outputs"), _specs(candidate, "outputs")
    for name, spec in old_out.items():
        new = new_out.get(name)
        if new is None:
            problems.append(f"output '{name}' is gone")
        elif new.get("type") != spec.get("type"):
            problems.append(f"output '{name}' changed from {spec.get('type')} to {new.get('type')}")
    return problems


def _signature_rule(rule: SignatureRule, ctx: GateContext) -> RuleOutcome:
    if ctx.current_version is None:
        return RuleOutcome(rule=rule.text, status="skipped", message=f"no version holds @{ctx.alias} yet")
    problems = signature_problems(ctx.candidate_signature, ctx.baseline_signature)
    if problems:
        return RuleOutcome(rule=rule.text, status="fail", message="; ".join(problems))
    return RuleOutcome(rule=rule.text, status="pass", message=f"compatible with version {ctx.current_version}")


def _format_rule(rule: FormatRule, ctx: GateContext) -> RuleOutcome:
    found = ctx.serialization or "unknown"
    ok = found in rule.formats
    allowed = ", ".join(rule.formats)
    message = f"artifact format is {found}" + (
        "" if ok else f", not one of [{allowed}]; re-save the model with a safe flavor"
    )
    return RuleOutcome(rule=rule.text, status="pass" if ok else "fail", message=message, numbers={"format": found})


def _dataset_rule(rule: DatasetAgeRule, ctx: GateContext) -> RuleOutcome:
    result = _evaluation(ctx)
    if result.dataset is None:
        raise _Fail("the evaluation names no dataset")
    if ctx.dataset_registered_at is None:
        raise _Fail(
            f"evaluation dataset '{result.dataset.name}' (sha256 {result.dataset.digest[:12]}) is not registered"
        )
    age = ctx.now - ctx.dataset_registered_at
    days = age.total_seconds() / 86400
    limit = rule.max_age.total_seconds() / 86400
    ok = age <= rule.max_age
    message = f"dataset '{result.dataset.name}' registered {days:.1f} days ago (limit {limit:g})"
    return RuleOutcome(rule=rule.text, status="pass" if ok else "fail", message=message, numbers={"age_days": days})


def check_rule(rule: Rule, ctx: GateContext) -> RuleOutcome:
    try:
        if isinstance(rule, MetricRule):
            return _metric_rule(rule, ctx)
        if isinstance(rule, ThresholdRule):
            return _threshold_rule(rule, ctx)
        if isinstance(rule, SignatureRule):
            return _signature_rule(rule, ctx)
        if isinstance(rule, FormatRule):
            return _format_rule(rule, ctx)
        return _dataset_rule(rule, ctx)
    except _Fail as exc:
        return RuleOutcome(rule=rule.text, status="fail", message=exc.message, numbers=exc.numbers)


def check_rules(rules: list[Rule], ctx: GateContext) -> list[RuleOutcome]:
    return [check_rule(rule, ctx) for rule in rules]


__all__ = ["GateContext", "RuleOutcome", "check_rule", "check_rules", "signature_problems"]
