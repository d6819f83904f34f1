"""Standard classification and regression metrics, vectorised over bootstrap resamples.

Every metric is computed from a matrix of row weights ``W`` of shape ``(B, n)``: row ``b``
holds how many times each of the ``n`` evaluation rows is drawn in resample ``b``. The plain
metrics are the one-row case (all weights 1), so the point estimates and the bootstrap
distributions come from the same code (:func:`classification_kernel`,
:func:`regression_kernel`) and never disagree. The results match scikit-learn's
definitions (checked in ``tests/evaluation/test_metrics.py``).

Names (the keys of the returned dicts):

- classification: ``accuracy``; ``precision``, ``recall``, ``f1`` (macro averages over
  ``labels``, for binary problems too) and per class ``precision[class=X]``,
  ``recall[class=X]``, ``f1[class=X]``; with scores also ``roc_auc`` (binary, or the macro
  one-vs-rest average), ``pr_auc`` (average precision; macro one-vs-rest for multiclass),
  ``log_loss``, and ``brier`` (binary only);
- regression: ``mae``, ``rmse``, ``mape``, ``r2``, ``residual_mean``, ``residual_std``.

Undefined values are **omitted** from the dicts (and are ``NaN`` in the kernels' arrays):
``roc_auc``/``pr_auc`` when a class has no positive (or, for AUC, no negative) rows,
``r2`` when every target is equal, ``mape`` when every target is zero. A precision or
recall with a zero denominator is ``0.0``, as scikit-learn's default. MAPE is the mean of
``|y_pred - y_true| / |y_true|`` over the rows whose target is **not zero**: zero-target rows
are left out explicitly (scikit-learn instead divides by a tiny epsilon, which makes one
zero target dominate the mean). Probabilities are clipped to ``[eps, 1]`` for the log loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from shipyard.evaluation.directions import greater_is_better
from shipyard.evaluation.errors import EvaluationInputError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class ClassificationData:
    """Encoded classification inputs: label indices and, optionally, one score column per label."""

    labels: tuple[Any, ...]
    y_true: IntArray
    y_pred: IntArray
    scores: FloatArray | None  # (n, len(labels)); column j is the score of labels[j]


def _column(values: ArrayLike, field: str) -> NDArray[Any]:
    array = np.asarray(values)
    if array.ndim != 1:
        raise EvaluationInputError(f"{field} must be one-dimensional, got shape {array.shape}", field=field)
    return array


def _encode(values: NDArray[Any], labels: tuple[Any, ...], field: str) -> IntArray:
    index = {label: i for i, label in enumerate(labels)}
    try:
        return np.fromiter((index[v] for v in values.tolist()), dtype=np.int64, count=len(values))
    except KeyError as exc:
        raise EvaluationInputError(
            f"{field} holds {exc.args[0]!r}, which is not one of labels {list(labels)}", field=field
        ) from None
    except TypeError:
        raise EvaluationInputError(f"{field} holds unhashable values", field=field) from None


def prepare_classification(
    y_true: ArrayLike, y_pred: ArrayLike, y_score: ArrayLike | None = None, *, labels: Sequence[Any] | None = None
) -> ClassificationData:
    """Validate and encode classification inputs.

    ``labels`` defaults to the sorted union of ``y_true`` and ``y_pred``. ``y_score`` is either
    one column of probabilities of the positive class ``labels[1]`` (binary problems only) or
    an ``(n, len(labels))`` matrix whose columns follow ``labels``.
    """
    truth = _column(y_true, "y_true")
    predicted = _column(y_pred, "y_pred")
    if len(truth) != len(predicted):
        raise EvaluationInputError(f"y_pred has {len(predicted)} rows but y_true has {len(truth)}", field="y_pred")
    if labels is None:
        found = np.unique(np.concatenate([truth, predicted])) if len(truth) else np.array([])
        label_tuple = tuple(found.tolist())
    else:
        label_tuple = tuple(np.asarray(labels).tolist())
        if len(set(label_tuple)) != len(label_tuple):
            raise EvaluationInputError("labels must be distinct", field="labels")
    scores = None if y_score is None else _scores(y_score, len(truth), len(label_tuple))
    return ClassificationData(
        labels=label_tuple,
        y_true=_encode(truth, label_tuple, "y_true"),
        y_pred=_encode(predicted, label_tuple, "y_pred"),
        scores=scores,
    )


def _scores(y_score: ArrayLike, n: int, k: int) -> FloatArray | None:
    scores = np.asarray(y_score, dtype=np.float64)
    if scores.shape[0] != n:
        raise EvaluationInputError(f"y_score has {scores.shape[0]} rows but y_true has {n}", field="y_score")
    if not np.isfinite(scores).all():
        raise EvaluationInputError("y_score holds NaN or infinite values", field="y_score")
    if scores.ndim == 1:
        if k != 2:
            if k < 2:
                return None  # one label: nothing to rank; score metrics are undefined
            raise EvaluationInputError(
                f"a one-column y_score needs exactly two labels, got {k}; pass one column per label", field="y_score"
            )
        return np.column_stack([1.0 - scores, scores])
    if scores.ndim != 2 or scores.shape[1] != k:
        raise EvaluationInputError(f"y_score must have shape ({n}, {k}), got {scores.shape}", field="y_score")
    return scores


def _onehot(index: IntArray, k: int) -> FloatArray:
    out = np.zeros((len(index), k))
    out[np.arange(len(index)), index] = 1.0
    return out


def _safe_divide(numerator: FloatArray, denominator: FloatArray, empty: float) -> FloatArray:
    out = np.full(np.broadcast(numerator, denominator).shape, empty)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def _tie_groups(
    weights: FloatArray, positive: NDArray[np.bool_], order: IntArray, sorted_scores: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Positive and negative weight per group of equal scores, in ``order``: two ``(B, groups)`` arrays."""
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ordered = weights[:, order]
    pos = positive[order]
    pos_groups = np.add.reduceat(ordered * pos, starts, axis=1)
    neg_groups = np.add.reduceat(ordered * ~pos, starts, axis=1)
    return pos_groups, neg_groups


def weighted_roc_auc(scores: FloatArray, positive: NDArray[np.bool_], weights: FloatArray) -> FloatArray:
    """ROC AUC per weight row: P(score of a positive > score of a negative), ties counting half."""
    order = np.argsort(scores, kind="stable")
    pos_g, neg_g = _tie_groups(weights, positive, order, scores[order])
    negatives_below = np.cumsum(neg_g, axis=1) - neg_g
    numerator = (pos_g * (negatives_below + 0.5 * neg_g)).sum(axis=1)
    return _safe_divide(numerator, pos_g.sum(axis=1) * neg_g.sum(axis=1), np.nan)


def weighted_average_precision(scores: FloatArray, positive: NDArray[np.bool_], weights: FloatArray) -> FloatArray:
    """Average precision per weight row: ``sum_k (R_k - R_{k-1}) P_k`` over descending score thresholds."""
    order = np.argsort(-scores, kind="stable")
    pos_g, neg_g = _tie_groups(weights, positive, order, scores[order])
    tp = np.cumsum(pos_g, axis=1)
    precision = _safe_divide(tp, tp + np.cumsum(neg_g, axis=1), 0.0)
    return _safe_divide((pos_g * precision).sum(axis=1), pos_g.sum(axis=1), np.nan)


def classification_kernel(data: ClassificationData, weights: FloatArray) -> dict[str, FloatArray]:
    """Every classification metric for each row of ``weights`` (shape ``(B, n)``)."""
    k = len(data.labels)
    truth, predicted = _onehot(data.y_true, k), _onehot(data.y_pred, k)
    total = weights.sum(axis=1)
    true_count, pred_count = weights @ truth, weights @ predicted
    hits = weights @ (truth * predicted)
    precision = _safe_divide(hits, pred_count, 0.0)
    recall = _safe_divide(hits, true_count, 0.0)
    f1 = _safe_divide(2 * hits, true_count + pred_count, 0.0)
    out: dict[str, FloatArray] = {"accuracy": _safe_divide(hits.sum(axis=1), total, np.nan)}
    for name, per_class in (("precision", precision), ("recall", recall), ("f1", f1)):
        out[name] = per_class.mean(axis=1) if k else np.full(len(weights), np.nan)
        for j, label in enumerate(data.labels):
            out[f"{name}[class={label}]"] = per_class[:, j]
    if data.scores is not None and k >= 2:
        out.update(_score_metrics(data, weights, total))
    return out


def _score_metrics(data: ClassificationData, weights: FloatArray, total: FloatArray) -> dict[str, FloatArray]:
    assert data.scores is not None
    k = len(data.labels)
    columns = [1] if k == 2 else range(k)
    aucs = [weighted_roc_auc(data.scores[:, j], data.y_true == j, weights) for j in columns]
    aps = [weighted_average_precision(data.scores[:, j], data.y_true == j, weights) for j in columns]
    eps = np.finfo(np.float64).eps
    p_true = np.clip(data.scores[np.arange(len(data.y_true)), data.y_true], eps, 1.0)
    out = {
        "roc_auc": np.mean(aucs, axis=0),
        "pr_auc": np.mean(aps, axis=0),
        "log_loss": _safe_divide(weights @ -np.log(p_true), total, np.nan),
    }
    if k == 2:
        errors = (data.scores[:, 1] - (data.y_true == 1)) ** 2
        out["brier"] = _safe_divide(weights @ errors, total, np.nan)
    return out


def prepare_regression(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Validate regression inputs: two finite float columns of the same length."""
    arrays = []
    for field, values in (("y_true", y_true), ("y_pred", y_pred)):
        try:
            array = _column(values, field).astype(np.float64)
        except (TypeError, ValueError):
            raise EvaluationInputError(f"{field} must be numeric", field=field) from None
        if not np.isfinite(array).all():
            raise EvaluationInputError(f"{field} holds NaN or infinite values", field=field)
        arrays.append(array)
    if len(arrays[0]) != len(arrays[1]):
        raise EvaluationInputError(f"y_pred has {len(arrays[1])} rows but y_true has {len(arrays[0])}", field="y_pred")
    return arrays[0], arrays[1]


def regression_kernel(y_true: FloatArray, y_pred: FloatArray, weights: FloatArray) -> dict[str, FloatArray]:
    """Every regression metric for each row of ``weights`` (shape ``(B, n)``)."""
    residual = y_pred - y_true
    total = weights.sum(axis=1)
    mse = _safe_divide(weights @ residual**2, total, np.nan)
    mean_residual = _safe_divide(weights @ residual, total, np.nan)
    nonzero = y_true != 0
    nonzero_weight = weights[:, nonzero].sum(axis=1)
    ape = np.abs(residual[nonzero]) / np.abs(y_true[nonzero])
    centred = y_true - (y_true.mean() if len(y_true) else 0.0)
    centred_mean = _safe_divide(weights @ centred, total, np.nan)
    total_ss = weights @ centred**2 - total * centred_mean**2
    scale = np.maximum(weights @ centred**2, np.finfo(np.float64).tiny)
    defined = total_ss > 1e-12 * scale
    r2 = np.full(len(weights), np.nan)
    np.subtract(1.0, (weights @ residual**2) / np.where(defined, total_ss, 1.0), out=r2, where=defined)
    return {
        "mae": _safe_divide(weights @ np.abs(residual), total, np.nan),
        "rmse": np.sqrt(mse),
        "mape": _safe_divide(weights[:, nonzero] @ ape, nonzero_weight, np.nan),
        "r2": r2,
        "residual_mean": mean_residual,
        "residual_std": np.sqrt(np.maximum(mse - mean_residual**2, 0.0)),
    }


def _finite(values: dict[str, FloatArray]) -> dict[str, float]:
    return {name: float(array[0]) for name, array in values.items() if np.isfinite(array[0])}


def classification_metrics(
    y_true: ArrayLike, y_pred: ArrayLike, y_score: ArrayLike | None = None, *, labels: Sequence[Any] | None = None
) -> dict[str, float]:
    """Classification metrics (see the module docstring for names and undefined values)."""
    data = prepare_classification(y_true, y_pred, y_score, labels=labels)
    return _finite(classification_kernel(data, np.ones((1, len(data.y_true)))))


def regression_metrics(y_true: ArrayLike, y_pred: ArrayLike) -> dict[str, float]:
    """Regression metrics (see the module docstring; zero targets are left out of ``mape``)."""
    truth, predicted = prepare_regression(y_true, y_pred)
    return _finite(regression_kernel(truth, predicted, np.ones((1, len(truth)))))


def confusion(y_true: ArrayLike, y_pred: ArrayLike, labels: Sequence[Any] | None = None) -> IntArray:
    """Confusion counts: ``out[i, j]`` rows whose true label is ``labels[i]`` and prediction ``labels[j]``."""
    data = prepare_classification(y_true, y_pred, labels=labels)
    k = len(data.labels)
    counts = np.bincount(data.y_true * k + data.y_pred, minlength=k * k)
    return counts.reshape(k, k).astype(np.int64)


@dataclass(frozen=True)
class CalibrationCurve:
    """Reliability diagram points: per non-empty bin, mean predicted probability and observed rate."""

    mean_predicted: list[float]
    fraction_positive: list[float]
    count: list[int]


def calibration_curve(
    y_true: ArrayLike,
    y_prob: ArrayLike,
    *,
    positive: Any = 1,
    n_bins: int = 10,
    strategy: Literal["uniform", "quantile"] = "uniform",
) -> CalibrationCurve:
    """Bin ``y_prob`` (probability that the label is ``positive``) and compare with the observed rate."""
    truth = _column(y_true, "y_true") == positive
    prob = _column(y_prob, "y_prob").astype(np.float64)
    if len(prob) != len(truth):
        raise EvaluationInputError(f"y_prob has {len(prob)} rows but y_true has {len(truth)}", field="y_prob")
    if n_bins < 1:
        raise EvaluationInputError("n_bins must be at least 1", field="n_bins")
    if len(prob) and (prob.min() < 0 or prob.max() > 1 or not np.isfinite(prob).all()):
        raise EvaluationInputError("y_prob must hold probabilities in [0, 1]", field="y_prob")
    if strategy == "quantile" and len(prob):
        edges = np.quantile(prob, np.linspace(0, 1, n_bins + 1))
    elif strategy in ("uniform", "quantile"):
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    else:
        raise EvaluationInputError(f"strategy must be 'uniform' or 'quantile', got {strategy!r}", field="strategy")
    bins = np.clip(np.searchsorted(edges[1:-1], prob, side="right"), 0, n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    summed = np.bincount(bins, weights=prob, minlength=n_bins)
    hits = np.bincount(bins, weights=truth.astype(np.float64), minlength=n_bins)
    used = count > 0
    return CalibrationCurve(
        mean_predicted=(summed[used] / count[used]).tolist(),
        fraction_positive=(hits[used] / count[used]).tolist(),
        count=count[used].astype(int).tolist(),
    )


__all__ = [
    "CalibrationCurve",
    "ClassificationData",
    "calibration_curve",
    "classification_kernel",
    "classification_metrics",
    "confusion",
    "greater_is_better",
    "prepare_classification",
    "prepare_regression",
    "regression_kernel",
    "regression_metrics",
    "weighted_average_precision",
    "weighted_roc_auc",
]
