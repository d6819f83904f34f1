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
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shipyard.errors import InvalidArgument

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


class AnalysisSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    checks: list[MetricCheck] = Field(min_length=1)
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


def analyse(spec: AnalysisSpec, stable: Mapping[str, Samples], candidate: Mapping[str, Samples]) -> AnalysisResult:
    """Judge ``candidate`` against ``stable``; each maps a metric name to its samples."""
    missing = [c.metric for c in spec.checks if c.metric not in stable or c.metric not in candidate]
    if missing:
        raise InvalidArgument(f"no samples for metric(s) {missing}", {"field": "metric", "missing": missing})
    alpha = 1.0 - spec.confidence
    results = [judge_metric(check, stable[check.metric], candidate[check.metric], alpha) for check in spec.checks]
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
    decided = [r for r in results if r.decision != "inconclusive"]
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
    "AnalysisResult",
    "AnalysisSpec",
    "MetricCheck",
    "MetricResult",
    "analyse",
    "default_spec",
    "judge_metric",
]
