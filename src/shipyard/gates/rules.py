"""The typed rules a gate policy is made of (parsed by :mod:`shipyard.gates.parser`).

::

    Rule
    ├── MetricRule        auc >= 0.85 · auc >= baseline.auc - 0.005 · recall[slice=region:EU] >= baseline - 0.01
    │                     log_loss <= baseline * 0.98 · p99_latency_ms <= 50 · rows >= 500 · f1 > baseline significant
    ├── ThresholdRule     auc meets threshold=0.8 min_absolute_change=0.01 min_relative_change=0.02
    ├── SignatureRule     signature compatible with baseline
    ├── FormatRule        artifact format in [skops, onnx, xgboost-json]
    └── DatasetAgeRule    evaluated on a dataset registered within 30 days
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from shipyard.errors import InvalidArgument

Operator = Literal[">=", "<=", ">", "<"]
ALIASES = {
    "auc": "roc_auc",
    "ap": "pr_auc",
    "average_precision": "pr_auc",
    "n": "rows",
    "latency_p99_ms": "p99_latency_ms",
}


class PolicySyntaxError(InvalidArgument):
    """A policy that does not parse; ``details`` name the line, column and offending token."""

    def __init__(self, message: str, *, line: int, column: int, token: str) -> None:
        super().__init__(
            f"policy line {line}, column {column}: {message}",
            {"field": "policy", "line": line, "column": column, "token": token},
        )


@dataclass(frozen=True)
class MetricRef:
    """``name[class=X, slice=column:value]``; ``slice`` may be ``*`` or ``column:*`` (every slice)."""

    name: str
    cls: str | None = None
    slice: str | None = None

    @property
    def key(self) -> str:
        """The key in an evaluation's metrics (``recall[class=1]``)."""
        return self.name if self.cls is None else f"{self.name}[class={self.cls}]"

    @property
    def wildcard(self) -> bool:
        return self.slice is not None and (self.slice == "*" or self.slice.endswith(":*"))

    def __str__(self) -> str:
        selectors = [f"class={self.cls}"] if self.cls is not None else []
        selectors += [f"slice={self.slice}"] if self.slice is not None else []
        return self.name + (f"[{','.join(selectors)}]" if selectors else "")


@dataclass(frozen=True)
class BaselineTerm:
    """``baseline[.metric] (+|-) offset`` or ``baseline[.metric] * factor``."""

    metric: MetricRef
    offset: float = 0.0
    factor: float | None = None  # relative form


@dataclass(frozen=True)
class MetricRule:
    text: str
    metric: MetricRef
    op: Operator
    threshold: float | None = None  # the constant form
    baseline: BaselineTerm | None = None  # the baseline form
    significant: bool = False  # the improvement (or non-inferiority) must be statistically significant


@dataclass(frozen=True)
class ThresholdRule:
    """MLflow's ``MetricThreshold``: every given part must hold."""

    text: str
    metric: MetricRef
    threshold: float | None = None
    min_absolute_change: float | None = None
    min_relative_change: float | None = None
    greater_is_better: bool | None = None  # None: from the metric's name


@dataclass(frozen=True)
class SignatureRule:
    text: str


@dataclass(frozen=True)
class FormatRule:
    text: str
    formats: tuple[str, ...]


@dataclass(frozen=True)
class DatasetAgeRule:
    text: str
    max_age: timedelta


Rule = MetricRule | ThresholdRule | SignatureRule | FormatRule | DatasetAgeRule


def uses_baseline(rule: Rule) -> bool:
    if isinstance(rule, MetricRule):
        return rule.baseline is not None
    if isinstance(rule, ThresholdRule):
        return rule.min_absolute_change is not None or rule.min_relative_change is not None
    return isinstance(rule, SignatureRule)


__all__ = [
    "ALIASES",
    "BaselineTerm",
    "DatasetAgeRule",
    "FormatRule",
    "MetricRef",
    "MetricRule",
    "Operator",
    "PolicySyntaxError",
    "Rule",
    "SignatureRule",
    "ThresholdRule",
    "uses_baseline",
]
