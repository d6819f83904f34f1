"""Canary analysis: does the candidate behave like the stable version, per metric, with a
statistical test rather than a bare threshold.

Modelled on Kayenta's judge. For every metric check:

1. Too few samples on either side → ``inconclusive`` (never a guess).
2. A one-sided Mann-Whitney U test asks whether the candidate's samples are
   stochastically *worse* than the stable ones (larger when lower is better, smaller when
   higher is better). Rank-based, so it holds for skewed latencies and 0/1 error flags.
3. The metric ``fails`` only when the difference is significant at the configured
   confidence *and* the candidate's summary (mean, p50, p90 or p99) is beyond the stable
   summary by more than the tolerance (relative, plus an absolute floor so a stable error
   rate of 0 still admits noise). A significant but tolerated difference passes, with a note.

The verdict: any failing ``critical`` metric fails the analysis outright; otherwise the
score is the weighted share of decided metrics that passed — ``success`` at or above
``pass_score``, ``failure`` below ``marginal_score``, ``inconclusive`` between them or when
no metric could be decided.

``rules`` add hard limits written in the gate-policy language (:mod:`shipyard.gates.parser`),
read on the online samples: ``p99_latency_ms <= 50``, ``error_rate <= baseline + 0.01``,
``p99_latency_ms <= baseline * 1.2``. Each rule is critical; forms that only make sense on an
offline evaluation (signature, artifact format, dataset age, slices, classes, ``significant``,
``meets``) are refused when the spec is parsed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from shipyard.errors import InvalidArgument
from shipyard.gates import stats
from shipyard.gates.parser import parse_policy
from shipyard.gates.rules import MetricRule, PolicySyntaxError, SignatureRule, ThresholdRule

if TYPE_CHECKING:  # numpy is imported when a judgement runs: specs load without it (the client)
    import numpy as np
    from numpy.typing import NDArray

    Samples = Sequence[float] | NDArray[Any]

Direction = Literal["lower_is_better", "higher_is_better"]
Summary = Literal["mean", "p50", "p90", "p95", "p99"]
Decision = Literal["pass", "fail", "inconclusive"]
Outcome = Literal["success", "failure", "inconclusive"]


class MetricCheck(BaseModel):
    """One metric compared between candidate and stable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str = Field(min_length=1, description="Sample name: error, latency_ms, or a quality metric.")
    direction: Direction = "lower_is_better"
    summary: Summary = Field(default="mean", description="Statistic the tolerance is applied to.")
    tolerance: float = Field(default=0.0, ge=0, description="Allowed relative degradation (0.2 = 20%).")
    absolute_tolerance: float = Field(default=0.0, ge=0, description="Allowed absolute degradation on top.")
    critical: bool = Field(default=False, description="A failure fails the whole analysis.")
    weight: float = Field(default=1.0, gt=0)
    min_samples: int = Field(default=50, ge=2, description="Samples needed on each side to decide.")


ONLINE_METRICS: dict[str, str] = {
    "error_rate": "share of requests that failed (mean of the error samples)",
    "p50_latency_ms": "median latency",
    "p90_latency_ms": "90th percentile latency",
    "p95_latency_ms": "95th percentile latency",
    "p99_latency_ms": "99th percentile latency",
    "mean_latency_ms": "mean latency",
    "requests": "number of requests sampled",
}
DEFAULT_RULE_SAMPLES = 50


def online_rule(text: str) -> MetricRule:
    """The gate-language rule ``text`` if it can be read on online samples; otherwise a
    ``ValueError`` saying why (the spec's validation names the field)."""
    try:
        parsed = parse_policy(text)
    except PolicySyntaxError as exc:
        raise ValueError(exc.message.removeprefix("policy ")) from None
    if len(parsed) != 1:
        raise ValueError(f"one rule per entry; this one holds {len(parsed)}")
    rule = parsed[0]
    if isinstance(rule, SignatureRule):
        raise ValueError("the signature is checked by the promotion gate, not on live traffic")
    if isinstance(rule, ThresholdRule):
        raise ValueError(
            "the 'meets' form is for promotion gates; write comparisons such as "
            "'error_rate <= 0.01' or 'error_rate <= baseline + 0.01'"
        )
    if not isinstance(rule, MetricRule):
        raise ValueError(
            "artifact format and evaluation dataset rules are checked by the promotion gate, not on live traffic"
        )
    refs = [rule.metric] + ([rule.baseline.metric] if rule.baseline is not None else [])
    for ref in refs:
        if ref.cls is not None or ref.slice is not None:
            raise ValueError(f"'{ref}': classes and slices are not measured on live traffic")
        if ref.name not in ONLINE_METRICS:
            raise ValueError(f"'{ref.name}' is not measured on live traffic; use one of {', '.join(ONLINE_METRICS)}")
    if rule.significant:
        raise ValueError(
            "'significant' needs an offline evaluation's bootstrap; on live traffic the checks' "
            "Mann-Whitney test judges significance"
        )
    return rule


def _valid_rule(text: str) -> str:
    online_rule(text)
    return text


OnlineRule = Annotated[str, AfterValidator(_valid_rule)]


class AnalysisSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    checks: list[MetricCheck] = Field(min_length=1)
    rules: list[OnlineRule] = Field(
        default_factory=list,
        max_length=50,
        exclude_if=lambda rules: not rules,  # specs stored before rules existed keep their digest
        description="Critical limits in the gate-policy language on the online metrics "
        "(error_rate, p50/p90/p95/p99/mean_latency_ms, requests; baseline.<metric> is the stable version).",
    )
    confidence: float = Field(default=0.95, gt=0.5, lt=1, description="One-sided test confidence.")
    pass_score: float = Field(default=0.95, ge=0, le=1)
    marginal_score: float = Field(default=0.75, ge=0, le=1)

    @model_validator(mode="after")
    def _scores_ordered(self) -> AnalysisSpec:
        if self.marginal_score > self.pass_score:
            raise ValueError("marginal_score must not exceed pass_score")
        names = [c.metric for c in self.checks]
        if len(set(names)) != len(names):
            raise ValueError(
                f"each metric may be checked once; repeated: {sorted({n for n in names if names.count(n) > 1})}"
            )
        return self


def default_spec() -> AnalysisSpec:
    """Errors are critical (absolute +1 point of error rate tolerated); p99 latency may
    grow by 20 %."""
    return AnalysisSpec(
        checks=[
            MetricCheck(metric="error", summary="mean", absolute_tolerance=0.01, critical=True),
            MetricCheck(metric="latency_ms", summary="p99", tolerance=0.2, absolute_tolerance=1.0),
        ]
    )


class MetricResult(BaseModel):
    metric: str
    decision: Decision
    critical: bool
    n_stable: int
    n_candidate: int
    stable: float | None = None  # the summary statistic on each side
    candidate: float | None = None
    allowed: float | None = None  # the worst candidate summary the tolerance admits
    p_value: float | None = None
    reason: str


class AnalysisResult(BaseModel):
    outcome: Outcome
    score: float | None
    metrics: list[MetricResult]
    reasons: list[str]


def _summary(values: np.ndarray, summary: Summary) -> float:
    import numpy as np

    if summary == "mean":
        return float(values.mean())
    return float(np.percentile(values, float(summary[1:])))


def _worse_p_value(stable: np.ndarray, candidate: np.ndarray, direction: Direction) -> float:
    """One-sided Mann-Whitney p-value for "candidate is worse than stable"."""
    import numpy as np
    from scipy.stats import mannwhitneyu

    if np.ptp(np.concatenate([stable, candidate])) == 0:
        return 1.0  # every sample equal: no evidence of any difference
    alternative = "greater" if direction == "lower_is_better" else "less"
    result = mannwhitneyu(candidate, stable, alternative=alternative, method="asymptotic")
    return float(result.pvalue)


def judge_metric(check: MetricCheck, stable: Samples, candidate: Samples, alpha: float) -> MetricResult:
    import numpy as np

    s = np.asarray(stable, dtype=np.float64)
    c = np.asarray(candidate, dtype=np.float64)
    s, c = s[np.isfinite(s)], c[np.isfinite(c)]
    base = {"metric": check.metric, "critical": check.critical, "n_stable": len(s), "n_candidate": len(c)}
    if len(s) < check.min_samples or len(c) < check.min_samples:
        return MetricResult(
            **base,
            decision="inconclusive",
            reason=f"needs {check.min_samples} samples on each side, has {len(s)} stable and {len(c)} candidate",
        )
    s_sum, c_sum = _summary(s, check.summary), _summary(c, check.summary)
    margin = abs(s_sum) * check.tolerance + check.absolute_tolerance
    if check.direction == "lower_is_better":
        allowed = s_sum + margin
        beyond = c_sum > allowed
    else:
        allowed = s_sum - margin
        beyond = c_sum < allowed
    p = _worse_p_value(s, c, check.direction)
    significant = p < alpha
    label = f"{check.summary} {check.metric}: candidate {c_sum:.4g} vs stable {s_sum:.4g} (allowed {allowed:.4g})"
    if significant and beyond:
        decision: Decision = "fail"
        reason = f"{label}; worse with p={p:.2g} < {alpha:.2g}"
    elif beyond:
        decision = "pass"
        reason = f"{label}; beyond tolerance but not significant (p={p:.2g})"
    elif significant:
        decision = "pass"
        reason = f"{label}; significantly different (p={p:.2g}) but within tolerance"
    else:
        decision = "pass"
        reason = f"{label}; p={p:.2g}"
    return MetricResult(
        **base,
        decision=decision,
        stable=s_sum,
        candidate=c_sum,
        allowed=allowed,
        p_value=p if math.isfinite(p) else None,
        reason=reason,
    )


def online_metrics(samples: Mapping[str, Samples]) -> dict[str, float]:
    """The online metrics of one version from its ``error`` and ``latency_ms`` samples (a
    metric without samples is left out)."""
    import numpy as np

    errors = np.asarray(samples.get("error", []), dtype=np.float64)
    latency = np.asarray(samples.get("latency_ms", []), dtype=np.float64)
    errors, latency = errors[np.isfinite(errors)], latency[np.isfinite(latency)]
    out = {"requests": float(len(errors))}
    if len(errors):
        out["error_rate"] = _summary(errors, "mean")
    if len(latency):
        out["mean_latency_ms"] = _summary(latency, "mean")
        for summary in ("p50", "p90", "p95", "p99"):
            out[f"{summary}_latency_ms"] = _summary(latency, summary)
    return out


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def judge_rule(
    text: str, stable: Mapping[str, float], candidate: Mapping[str, float], min_samples: int
) -> MetricResult:
    """One rule on the online metrics of each side (:func:`online_metrics`); critical."""
    rule = online_rule(text)
    n_stable, n_candidate = int(stable.get("requests", 0)), int(candidate.get("requests", 0))
    base: dict[str, Any] = {"metric": text, "critical": True, "n_stable": n_stable, "n_candidate": n_candidate}
    if n_stable < min_samples or n_candidate < min_samples:
        return MetricResult(
            **base,
            decision="inconclusive",
            reason=f"rule '{text}': needs {min_samples} samples on each side, "
            f"has {n_stable} stable and {n_candidate} candidate",
        )
    name = rule.metric.name
    value = candidate.get(name)
    reference = stable.get(rule.baseline.metric.name if rule.baseline is not None else name)
    if value is None or (rule.baseline is not None and reference is None):
        return MetricResult(**base, decision="inconclusive", reason=f"rule '{text}': no samples to compute it from")
    head = f"rule '{text}': {name} = {_fmt(value)}"
    if rule.baseline is None:
        assert rule.threshold is not None
        op, target, zero_baseline = rule.op, rule.threshold, False
    else:
        assert reference is not None
        term = rule.baseline
        op, target, zero_baseline = stats.baseline_target(rule.op, reference, term.offset, term.factor)
        head += f", baseline {_fmt(reference)}"
    met = stats.holds(value, op, target)
    if zero_baseline:
        reason = f"{head} (baseline is 0: relative change undefined, required strictly better)"
    else:
        reason = f"{head}, required {op} {_fmt(target)}"
    return MetricResult(
        **base,
        decision="pass" if met else "fail",
        stable=reference,
        candidate=value,
        allowed=target,
        reason=reason,
    )


def analyse(spec: AnalysisSpec, stable: Mapping[str, Samples], candidate: Mapping[str, Samples]) -> AnalysisResult:
    """Judge ``candidate`` against ``stable``; each maps a metric name to its samples.

    The checks come first in ``metrics``, then one entry per rule (``metric`` is the rule's
    text); rules are critical and do not count in the score."""
    missing = [c.metric for c in spec.checks if c.metric not in stable or c.metric not in candidate]
    if missing:
        raise InvalidArgument(f"no samples for metric(s) {missing}", {"field": "metric", "missing": missing})
    alpha = 1.0 - spec.confidence
    checked = [judge_metric(check, stable[check.metric], candidate[check.metric], alpha) for check in spec.checks]
    ruled: list[MetricResult] = []
    if spec.rules:
        min_samples = max((c.min_samples for c in spec.checks), default=DEFAULT_RULE_SAMPLES)
        s_online, c_online = online_metrics(stable), online_metrics(candidate)
        ruled = [judge_rule(text, s_online, c_online, min_samples) for text in spec.rules]
    results = checked + ruled
    weights = {c.metric: c.weight for c in spec.checks}
    critical_failures = [r for r in results if r.critical and r.decision == "fail"]
    if critical_failures:
        return AnalysisResult(
            outcome="failure",
            score=0.0,
            metrics=results,
            reasons=[f"critical metric failed: {r.reason}" for r in critical_failures],
        )
    critical_unknown = [r for r in results if r.critical and r.decision == "inconclusive"]
    decided = [r for r in checked if r.decision != "inconclusive"]
    if critical_unknown or not decided:
        pending = critical_unknown or results
        return AnalysisResult(outcome="inconclusive", score=None, metrics=results, reasons=[r.reason for r in pending])
    total = sum(weights[r.metric] for r in decided)
    score = sum(weights[r.metric] for r in decided if r.decision == "pass") / total
    failed = [r.reason for r in decided if r.decision == "fail"]
    if score >= spec.pass_score:
        outcome: Outcome = "success"
        reasons = [f"score {score:.2f} >= pass score {spec.pass_score:.2f}"]
    elif score < spec.marginal_score:
        outcome = "failure"
        reasons = [f"score {score:.2f} < marginal score {spec.marginal_score:.2f}", *failed]
    else:
        outcome = "inconclusive"
        reasons = [
            f"score {score:.2f} between marginal {spec.marginal_score:.2f} and pass {spec.pass_score:.2f}",
            *failed,
        ]
    return AnalysisResult(outcome=outcome, score=score, metrics=results, reasons=reasons)


__all__ = [
    "ONLINE_METRICS",
    "AnalysisResult",
    "AnalysisSpec",
    "MetricCheck",
    "MetricResult",
    "analyse",
    "default_spec",
    "judge_metric",
    "judge_rule",
    "online_metrics",
    "online_rule",
]
