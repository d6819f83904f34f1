"""The statistics behind baseline comparisons.

- one-sided p-values from the paired bootstrap's standard error (normal approximation):
  ``z = s * (delta - c) / se`` where ``c`` is the change the rule requires and ``s`` is +1 when
  larger is required (``>=``, ``>``) and -1 otherwise; ``p_meets = 1 - Phi(z)`` is the p-value
  of "the requirement is not met" (small: significantly met), ``p_regress = Phi(z)`` of "it is
  met" (small: a significant regression);
- Holm's step-down correction of a family of p-values (per-slice non-regression).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from shipyard.gates.rules import Operator


def _phi(z: float) -> float:
    """The standard normal CDF (pure Python, exact to double precision; the control plane
    checks gates without scipy)."""
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def holds(value: float, op: Operator, target: float) -> bool:
    if op == ">=":
        return value >= target
    if op == ">":
        return value > target
    if op == "<=":
        return value <= target
    return value < target


def baseline_target(op: Operator, base: float, offset: float, factor: float | None) -> tuple[Operator, float, bool]:
    """What a baseline comparison requires: ``(op, target, zero_baseline)``. The target is
    ``base * factor`` (relative form) or ``base + offset``; a relative change from a zero
    baseline is undefined, so the rule becomes "strictly better than 0" (MLflow's behaviour)."""
    if factor is not None and base == 0:
        strict: Operator = ">" if op in (">=", ">") else "<"
        return strict, 0.0, True
    return op, (base * factor if factor is not None else base + offset), False


def direction(op: Operator) -> float:
    return 1.0 if op in (">=", ">") else -1.0


def z_score(delta: float, required: float, se: float | None, op: Operator) -> float | None:
    if se is None or not math.isfinite(se):
        return None
    if se == 0:
        gap = direction(op) * (delta - required)
        return math.inf if gap > 0 else (-math.inf if gap < 0 else 0.0)
    return direction(op) * (delta - required) / se


def p_meets(z: float | None) -> float | None:
    return None if z is None else _phi(-z)


def p_regress(z: float | None) -> float | None:
    return None if z is None else _phi(z)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the input order (family-wise error control)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


__all__ = ["baseline_target", "direction", "holds", "holm", "p_meets", "p_regress", "z_score"]
