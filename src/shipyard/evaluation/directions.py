"""Which way each metric improves (no numpy: the gates use it in the control plane)."""

from __future__ import annotations

LOWER_IS_BETTER = frozenset({"log_loss", "brier", "mae", "rmse", "mape", "mse", "p50_latency_ms", "p99_latency_ms"})


def greater_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` (or ``metric[...]``) is an improvement."""
    return metric.split("[", 1)[0] not in LOWER_IS_BETTER


__all__ = ["LOWER_IS_BETTER", "greater_is_better"]
