"""Model performance on the predictions that have ground truth (feedback), overall and per slice.

The metrics are :mod:`shipyard.evaluation.metrics`' (the offline evaluation's, so online and
offline numbers mean the same): classification — accuracy, macro precision/recall/F1 and per
class, with scores ROC AUC, PR AUC, log loss, Brier; regression — MAE, RMSE, MAPE, R².

**Slices.** Per value of each ``slices`` column (a feature — ``region`` finds the log's
``f_region`` — or a log column such as ``version``), the same metrics over that value's rows
(at most ``max_slices`` values per column, the most frequent; slices under
``min_slice_rows`` labelled rows are reported without a verdict).

**Verdicts.** A check fails when

- a metric of the whole window or of a slice is worse than its ``thresholds`` entry (a floor
  for metrics where higher is better, a ceiling for errors such as ``rmse``), or
- a slice's primary metric (``accuracy``; ``rmse`` for regression) is worse than the whole
  window's by more than ``slice_tolerance`` (absolute, 0.1, for accuracy; relative, 0.25 =
  25% higher, for rmse), or
- with ``max_drop_from_offline`` set, the window's primary metric is worse than the model
  version's newest recorded offline evaluation by more than that (same units).

The comparison with the offline evaluation (``offline``: its metrics and online - offline) is
reported whenever one is recorded.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel

from shipyard.evaluation.errors import EvaluationInputError
from shipyard.evaluation.metrics import classification_metrics, greater_is_better, regression_metrics
from shipyard.monitoring.specs import PerformanceSpec, Task

FEATURE_PREFIX = "f_"


class PerformanceCheck(BaseModel):
    scope: str  # "overall" or "<column>=<value>"
    metric: str
    value: float
    threshold: float
    passed: bool
    rule: Literal["threshold", "slice", "offline"]


class OfflineComparison(BaseModel):
    """The window's metrics next to the newest offline evaluation of the model version."""

    model: str
    version: int
    evaluation: int  # its id
    metrics: dict[str, float]  # offline values
    delta: dict[str, float]  # online - offline, for the metrics both have


class SliceMetrics(BaseModel):
    column: str
    value: str
    rows: int
    metrics: dict[str, float]


class PerformanceReport(BaseModel):
    task: Task
    rows: int  # labelled rows the metrics cover
    metrics: dict[str, float]
    slices: list[SliceMetrics]
    checks: list[PerformanceCheck]
    passed: bool
    offline: OfflineComparison | None = None


def resolve_column(columns: list[str], name: str) -> str | None:
    """``name`` as a column of the log: itself, else the feature ``f_<name>``."""
    if name in columns:
        return name
    if FEATURE_PREFIX + name in columns:
        return FEATURE_PREFIX + name
    return None


def _truth_and_prediction(frame: Any, spec: PerformanceSpec) -> tuple[Any, Any]:
    predicted = frame[spec.prediction_column]
    if _numeric(frame, spec):  # numbers (regression, numeric classes): 1 and "1.0" agree
        truth, pred = frame["label_value"].to_numpy(dtype=np.float64), predicted.to_numpy(dtype=np.float64)
        whole = np.all(truth == np.round(truth)) and np.all(pred == np.round(pred))
        if spec.task == "classification" and whole:  # classes 0, 1 rather than 0.0, 1.0
            return truth.astype(np.int64), pred.astype(np.int64)
        return truth, pred
    return frame["label"].astype(str).to_numpy(), predicted.astype(str).to_numpy()


def _numeric(frame: Any, spec: PerformanceSpec) -> bool:
    import pandas as pd

    column = frame[spec.prediction_column]
    return spec.task == "regression" or (
        pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
    )


def _scores(frame: Any, spec: PerformanceSpec, classes: int) -> Any:
    if spec.score_column is None or spec.score_column not in frame.columns:
        return None
    rows = frame[spec.score_column].to_list()
    if any(r is None for r in rows):
        return None
    matrix = np.asarray([np.asarray(r, dtype=np.float64) for r in rows])
    if matrix.ndim != 2 or matrix.shape[1] != classes:
        return None
    return matrix


def _metrics(frame: Any, spec: PerformanceSpec) -> dict[str, float]:
    truth, predicted = _truth_and_prediction(frame, spec)
    if spec.task == "regression":
        return regression_metrics(truth, predicted)
    labels = spec.labels
    if labels is None:
        found = np.unique(np.concatenate([truth, predicted])) if len(truth) else np.array([])
        labels = found.tolist()
    scores = _scores(frame, spec, len(labels)) if spec.labels is not None else None
    return classification_metrics(truth, predicted, scores, labels=labels)


def _worse(metric: str, value: float, bound: float) -> bool:
    return value < bound if greater_is_better(metric) else value > bound


def _bound(metric: str, base: float, tolerance: float) -> float:
    """How bad ``metric`` may get from ``base``: ``tolerance`` lower (absolute) for scores,
    ``tolerance`` times higher (relative) for errors."""
    return base - tolerance if greater_is_better(metric) else base * (1 + tolerance)


def compute_performance(frame: Any, spec: PerformanceSpec, offline: dict[str, Any] | None = None) -> PerformanceReport:
    """Metrics of the labelled rows of ``frame`` (a DataFrame of ``predictions_with_feedback``);
    ``offline``: the model version's recorded evaluation (``model``, ``version``, ``evaluation``,
    ``metrics``) to compare with."""
    labelled = frame[frame["label"].notna()]
    if spec.prediction_column not in labelled.columns:
        raise EvaluationInputError(
            f"the prediction log has no column {spec.prediction_column!r}", field="performance.prediction_column"
        )
    if _numeric(labelled, spec):
        labelled = labelled[labelled["label_value"].notna()]
    labelled = labelled[labelled[spec.prediction_column].notna()]
    if not len(labelled):
        return PerformanceReport(task=spec.task, rows=0, metrics={}, slices=[], checks=[], passed=True)
    overall = _metrics(labelled, spec)
    checks: list[PerformanceCheck] = []

    def threshold_checks(scope: str, metrics: dict[str, float]) -> None:
        for metric, bound in spec.thresholds.items():
            if metric in metrics:
                value = metrics[metric]
                checks.append(
                    PerformanceCheck(
                        scope=scope,
                        metric=metric,
                        value=value,
                        threshold=bound,
                        passed=not _worse(metric, value, bound),
                        rule="threshold",
                    )
                )

    threshold_checks("overall", overall)
    slices: list[SliceMetrics] = []
    columns = [str(c) for c in labelled.columns]
    for name in spec.slices:
        column = resolve_column(columns, name)
        if column is None:
            raise EvaluationInputError(
                f"slice column {name!r} is not in the prediction log", field="performance.slices"
            )
        keys = labelled[column].astype(str)
        for value in keys.value_counts().index[: spec.max_slices]:
            part = labelled[keys == value]
            try:
                metrics = _metrics(part, spec)
            except EvaluationInputError:
                continue
            slices.append(SliceMetrics(column=name, value=str(value), rows=len(part), metrics=metrics))
            if len(part) < spec.min_slice_rows:
                continue
            scope = f"{name}={value}"
            threshold_checks(scope, metrics)
            primary = spec.primary
            if primary in metrics and primary in overall:
                base = overall[primary]
                bound = _bound(primary, base, spec.tolerance)
                checks.append(
                    PerformanceCheck(
                        scope=scope,
                        metric=primary,
                        value=metrics[primary],
                        threshold=bound,
                        passed=not _worse(primary, metrics[primary], bound),
                        rule="slice",
                    )
                )
    comparison = None
    if offline is not None:
        reference = {k: float(v) for k, v in offline["metrics"].items()}
        comparison = OfflineComparison(
            model=offline["model"],
            version=offline["version"],
            evaluation=offline["evaluation"],
            metrics=reference,
            delta={k: overall[k] - v for k, v in reference.items() if k in overall},
        )
        primary = spec.primary
        if spec.max_drop_from_offline is not None and primary in overall and primary in reference:
            bound = _bound(primary, reference[primary], spec.max_drop_from_offline)
            checks.append(
                PerformanceCheck(
                    scope="overall",
                    metric=primary,
                    value=overall[primary],
                    threshold=bound,
                    passed=not _worse(primary, overall[primary], bound),
                    rule="offline",
                )
            )
    return PerformanceReport(
        task=spec.task,
        rows=len(labelled),
        metrics=overall,
        slices=slices,
        checks=checks,
        passed=all(c.passed for c in checks),
        offline=comparison,
    )


__all__ = [
    "OfflineComparison",
    "PerformanceCheck",
    "PerformanceReport",
    "PerformanceSpec",
    "SliceMetrics",
    "compute_performance",
    "resolve_column",
]
