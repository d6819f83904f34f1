"""The metrics agree with scikit-learn's definitions and never raise on valid input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from shipyard.evaluation import (
    EvaluationInputError,
    calibration_curve,
    classification_metrics,
    confusion,
    regression_metrics,
)
from shipyard.evaluation.metrics import classification_kernel, greater_is_better, prepare_classification


def test_binary_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    score = np.clip(y * 0.3 + rng.random(300) * 0.7, 0, 1).round(2)  # rounded: ties exercised
    pred = (score > 0.5).astype(int)
    got = classification_metrics(y, pred, score)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert got["precision"] == pytest.approx(skm.precision_score(y, pred, average="macro"))
    assert got["recall"] == pytest.approx(skm.recall_score(y, pred, average="macro"))
    assert got["f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert got["recall[class=1]"] == pytest.approx(skm.recall_score(y, pred))
    assert got["precision[class=0]"] == pytest.approx(skm.precision_score(y, pred, pos_label=0))
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, score))
    assert got["pr_auc"] == pytest.approx(skm.average_precision_score(y, score))
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, score))
    assert got["brier"] == pytest.approx(skm.brier_score_loss(y, score))


def test_multiclass_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(1)
    y = np.array(["a", "b", "c"])[rng.integers(0, 3, 400)]
    raw = rng.random((400, 3)) + (y[:, None] == np.array(["a", "b", "c"])) * 0.8
    proba = raw / raw.sum(axis=1, keepdims=True)
    pred = np.array(["a", "b", "c"])[proba.argmax(axis=1)]
    got = classification_metrics(y, pred, proba, labels=["a", "b", "c"])
    assert got["f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert got["f1[class=b]"] == pytest.approx(skm.f1_score(y, pred, average=None, labels=["a", "b", "c"])[1])
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr", average="macro"))
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, proba, labels=["a", "b", "c"]))
    expected_ap = np.mean([skm.average_precision_score(y == c, proba[:, i]) for i, c in enumerate("abc")])
    assert got["pr_auc"] == pytest.approx(expected_ap)
    assert "brier" not in got


def test_undefined_metrics_are_omitted_not_raised() -> None:
    got = classification_metrics([1, 1, 1], [1, 0, 1], [0.9, 0.4, 0.8], labels=[0, 1])
    assert "roc_auc" not in got
    assert "pr_auc" in got
    assert got["precision[class=0]"] == 0.0  # zero denominator is 0, as scikit-learn's default
    assert all(math.isfinite(v) for v in got.values())
    assert classification_metrics([], []) == {}
    assert "r2" not in regression_metrics([2.0, 2.0], [1.0, 3.0])


def test_bootstrap_weights_are_resampled_rows() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 50)
    score = rng.random(50)
    pred = (score > 0.5).astype(int)
    idx = rng.integers(0, 50, 50)
    weights = np.bincount(idx, minlength=50).astype(float)[None, :]
    kernel = classification_kernel(prepare_classification(y, pred, score, labels=[0, 1]), weights)
    direct = classification_metrics(y[idx], pred[idx], score[idx], labels=[0, 1])
    for name, value in direct.items():
        assert kernel[name][0] == pytest.approx(value), name


def test_regression_metrics_and_zero_targets() -> None:
    y = np.array([0.0, 1.0, 2.0, 4.0])
    p = np.array([0.5, 1.5, 1.0, 4.0])
    got = regression_metrics(y, p)
    assert got["mae"] == pytest.approx(skm.mean_absolute_error(y, p))
    assert got["rmse"] == pytest.approx(math.sqrt(skm.mean_squared_error(y, p)))
    assert got["r2"] == pytest.approx(skm.r2_score(y, p))
    assert got["mape"] == pytest.approx(np.mean([0.5 / 1.0, 1.0 / 2.0, 0.0]))  # the zero target is left out
    assert got["residual_mean"] == pytest.approx(np.mean(p - y))
    assert "mape" not in regression_metrics([0.0, 0.0], [1.0, 0.0])


def test_confusion_and_calibration() -> None:
    assert confusion([0, 1, 1, 2], [0, 2, 1, 2], labels=[0, 1, 2]).tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    curve = calibration_curve([0, 0, 1, 1], [0.1, 0.2, 0.7, 0.95], n_bins=2)
    assert curve.count == [2, 2]
    assert curve.fraction_positive == [0.0, 1.0]
    assert greater_is_better("roc_auc")
    assert not greater_is_better("log_loss")
    assert greater_is_better("recall[class=1]")


def test_bad_input_names_the_field() -> None:
    with pytest.raises(EvaluationInputError) as info:
        classification_metrics([0, 1], [0, 1, 1])
    assert info.value.details["field"] == "y_pred"
    with pytest.raises(EvaluationInputError) as info:
        classification_metrics([0, 1, 2], [0, 1, 2], [0.1, 0.2, 0.3])
    assert info.value.details["field"] == "y_score"
    with pytest.raises(EvaluationInputError) as info:
        classification_metrics([0, 5], [0, 1], labels=[0, 1])
    assert info.value.details["field"] == "y_true"
