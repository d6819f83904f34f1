"""From predictions to an :class:`EvaluationResult`'s slices: metrics, intervals, paired deltas.

Pure computation over arrays (no models, no I/O). For each slice (and the whole set) the
candidate's and the baseline's metrics come from the same bootstrap draws
(:mod:`shipyard.evaluation.bootstrap`), so ``delta = candidate - baseline`` is paired.
Custom metrics are plain functions ``fn(y_true, y_pred)`` (or ``fn(y_true, y_pred, y_score)``
when they take a third parameter), called once per resample.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.metrics import roc_curve

from shipyard.evaluation import bootstrap
from shipyard.evaluation.errors import EvaluationInputError
from shipyard.evaluation.metrics import (
    calibration_curve,
    classification_kernel,
    confusion,
    prepare_classification,
    prepare_regression,
    regression_kernel,
)
from shipyard.evaluation.schemas import Curves, Delta, Estimate, ModelType, SliceResult

FloatArray = NDArray[np.float64]
Kernel = Callable[[FloatArray], dict[str, FloatArray]]
CURVE_POINTS = 101


@dataclass(frozen=True)
class CustomMetric:
    """A user metric; ``greater_is_better=False`` for costs and errors."""

    fn: Callable[..., float]
    greater_is_better: bool = True


@dataclass(frozen=True)
class Predictions:
    y_pred: NDArray[Any]
    y_score: FloatArray | None = None  # classifiers: (n, len(labels)) probabilities


@dataclass
class Inputs:
    model_type: ModelType
    y_true: NDArray[Any]
    candidate: Predictions
    baseline: Predictions | None = None
    labels: list[Any] | None = None
    custom: Mapping[str, CustomMetric] = field(default_factory=dict)


def _kernel(inputs: Inputs, predictions: Predictions, rows: NDArray[np.bool_]) -> Kernel:
    if inputs.model_type == "classifier":
        score = None if predictions.y_score is None else predictions.y_score[rows]
        data = prepare_classification(inputs.y_true[rows], predictions.y_pred[rows], score, labels=inputs.labels)
        return lambda weights: classification_kernel(data, weights)
    truth, predicted = prepare_regression(inputs.y_true[rows], predictions.y_pred[rows])
    return lambda weights: regression_kernel(truth, predicted, weights)


def _custom_caller(name: str, metric: CustomMetric) -> Callable[[Any, Any, Any], float]:
    try:
        takes_score = len(inspect.signature(metric.fn).parameters) >= 3
    except (TypeError, ValueError):
        takes_score = False

    def call(y_true: Any, y_pred: Any, y_score: Any) -> float:
        try:
            value = metric.fn(y_true, y_pred, y_score) if takes_score else metric.fn(y_true, y_pred)
            return float(value)
        except Exception as exc:  # a user's function: report which one failed
            raise EvaluationInputError(
                f"custom metric '{name}' failed: {type(exc).__name__}: {exc}", field="custom_metrics"
            ) from exc

    return call


def _custom_values(
    inputs: Inputs, predictions: Predictions, rows: NDArray[np.bool_], index: NDArray[np.int64] | None
) -> dict[str, FloatArray]:
    truth, predicted = inputs.y_true[rows], predictions.y_pred[rows]
    score = None if predictions.y_score is None else predictions.y_score[rows]
    out: dict[str, FloatArray] = {}
    for name, metric in inputs.custom.items():
        call = _custom_caller(name, metric)
        draws = [np.arange(len(truth))] if index is None else list(index)
        out[name] = np.array([call(truth[i], predicted[i], None if score is None else score[i]) for i in draws])
    return out


def _values(inputs: Inputs, predictions: Predictions, rows: NDArray[np.bool_]) -> tuple[Kernel, dict[str, float]]:
    kernel = _kernel(inputs, predictions, rows)
    n = int(rows.sum())
    point = {k: float(v[0]) for k, v in kernel(np.ones((1, n))).items()}
    point |= {k: float(v[0]) for k, v in _custom_values(inputs, predictions, rows, None).items()}
    return kernel, point


def _finite(value: float) -> float | None:
    return value if np.isfinite(value) else None


def slice_result(
    inputs: Inputs, rows: NDArray[np.bool_], *, bootstrap_count: int, seed: int | list[int], confidence: float
) -> SliceResult:
    """Metrics, baseline metrics and paired deltas on the ``rows`` of the evaluation set."""
    n = int(rows.sum())
    kernel, point = _values(inputs, inputs.candidate, rows)
    base_kernel, base_point = (None, {}) if inputs.baseline is None else _values(inputs, inputs.baseline, rows)
    samples: dict[str, list[FloatArray]] = {}
    base_samples: dict[str, list[FloatArray]] = {}
    if n and bootstrap_count > 0:
        for index, weights in bootstrap.resample(n, bootstrap_count, seed):
            for name, values in (kernel(weights) | _custom_values(inputs, inputs.candidate, rows, index)).items():
                samples.setdefault(name, []).append(values)
            if base_kernel is not None and inputs.baseline is not None:
                drawn = base_kernel(weights) | _custom_values(inputs, inputs.baseline, rows, index)
                for name, values in drawn.items():
                    base_samples.setdefault(name, []).append(values)
    cand = {k: np.concatenate(v) for k, v in samples.items()}
    base = {k: np.concatenate(v) for k, v in base_samples.items()}
    result = SliceResult(
        n=n,
        metrics={k: _estimate(v, cand.get(k), confidence) for k, v in point.items()},
        baseline={k: _estimate(v, base.get(k), confidence) for k, v in base_point.items()},
    )
    for name in point.keys() & base_point.keys():
        diff = None if name not in cand or name not in base else cand[name] - base[name]
        low, high = (None, None) if diff is None else bootstrap.interval(diff, confidence)
        result.delta[name] = Delta(
            value=_finite(point[name] - base_point[name]),
            low=low,
            high=high,
            se=None if diff is None else bootstrap.standard_error(diff),
        )
    if inputs.model_type == "classifier":
        _classification_extras(inputs, rows, result)
    return result


def _estimate(value: float, samples: FloatArray | None, confidence: float) -> Estimate:
    low, high = (None, None) if samples is None else bootstrap.interval(samples, confidence)
    return Estimate(value=_finite(value), low=low, high=high)


def _classification_extras(inputs: Inputs, rows: NDArray[np.bool_], result: SliceResult) -> None:
    truth = inputs.y_true[rows]
    result.confusion = confusion(truth, inputs.candidate.y_pred[rows], inputs.labels).tolist()
    if inputs.baseline is not None:
        base_pred = inputs.baseline.y_pred[rows]
        result.baseline_confusion = confusion(truth, base_pred, inputs.labels).tolist()
        result.mcnemar = bootstrap.mcnemar(inputs.candidate.y_pred[rows] == truth, base_pred == truth)


def _roc_points(truth: NDArray[np.bool_], score: FloatArray) -> tuple[list[float], list[float]]:
    fpr, tpr, _ = roc_curve(truth, score)
    grid = np.linspace(0.0, 1.0, CURVE_POINTS)
    return grid.tolist(), np.interp(grid, fpr, tpr).tolist()


def curves(inputs: Inputs) -> Curves | None:
    """ROC and calibration points of a binary classifier (and its baseline), for plots."""
    labels = inputs.labels or []
    if inputs.model_type != "classifier" or len(labels) != 2 or inputs.candidate.y_score is None:
        return None
    truth = inputs.y_true == labels[1]
    if truth.all() or not truth.any():
        return None
    out = Curves()
    for prefix, predictions in (("", inputs.candidate), ("baseline_", inputs.baseline)):
        if predictions is None or predictions.y_score is None:
            continue
        score = predictions.y_score[:, 1]
        out.roc[f"{prefix}fpr"], out.roc[f"{prefix}tpr"] = _roc_points(truth, score)
        calibration = calibration_curve(truth, score, positive=True)
        out.calibration[f"{prefix}mean_predicted"] = calibration.mean_predicted
        out.calibration[f"{prefix}fraction_positive"] = calibration.fraction_positive
    return out


__all__ = ["CustomMetric", "Inputs", "Predictions", "curves", "slice_result"]
