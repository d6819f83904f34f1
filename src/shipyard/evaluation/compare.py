"""Side-by-side comparison of two evaluations (``shipyard models compare``)."""

from __future__ import annotations

from typing import Any

from shipyard.evaluation.schemas import EvaluationResult


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def compare_evaluations(a: EvaluationResult | None, b: EvaluationResult, version_a: int) -> list[dict[str, Any]]:
    """One row per overall metric: A's value, B's value and ``B - A``. When B was evaluated
    with version ``version_a`` as its baseline (same rows) the delta is the paired one, with
    its interval; otherwise ``a`` (A's own evaluation, maybe on other rows) is compared as is."""
    paired = b.baseline is not None and b.baseline.version == version_a
    if not paired and a is None:
        raise ValueError("an unpaired comparison needs A's evaluation")
    rows = []
    for metric, estimate in b.overall.metrics.items():
        mine = None if a is None else a.overall.metrics.get(metric)
        first = (
            b.overall.baseline[metric].value
            if paired and metric in b.overall.baseline
            else (mine.value if mine else None)
        )
        delta = b.overall.delta.get(metric) if paired else None
        if delta is not None and delta.value is not None:
            interval = "" if delta.low is None else f" [{_fmt(delta.low)}, {_fmt(delta.high)}]"
            shown = f"{delta.value:+.4f}{interval}"
        elif first is not None and estimate.value is not None:
            shown = f"{estimate.value - first:+.4f}"
        else:
            shown = "—"
        rows.append({"metric": metric, "a": _fmt(first), "b": _fmt(estimate.value), "delta": shown, "paired": paired})
    return rows


__all__ = ["compare_evaluations"]
