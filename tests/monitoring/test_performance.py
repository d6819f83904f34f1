"""Performance on labelled predictions: the evaluation's metrics, overall and per slice, with
threshold and slice verdicts."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from shipyard.evaluation.errors import EvaluationInputError
from shipyard.evaluation.metrics import classification_metrics, regression_metrics
from shipyard.monitoring.performance import PerformanceSpec, compute_performance


def _joined(prediction: Sequence[object], label: Sequence[object | None], region: list[str]) -> pd.DataFrame:
    values = [None if v is None else (float(v) if isinstance(v, int | float) else None) for v in label]
    return pd.DataFrame(
        {
            "prediction": prediction,
            "label": [None if v is None else str(v) for v in label],
            "label_value": values,
            "f_region": region,
        }
    )


def test_classification_overall_and_per_slice() -> None:
    rng = np.random.default_rng(0)
    n = 400
    region = rng.choice(["north", "south"], size=n)
    truth = rng.integers(0, 2, size=n)
    prediction = truth.copy()
    south = region == "south"
    prediction[south & (rng.random(n) < 0.5)] ^= 1  # half the south rows wrong
    label: list[object | None] = [int(v) for v in truth]
    label[0] = None  # not labelled yet: left out
    report = compute_performance(
        _joined(prediction.tolist(), label, region.tolist()),
        PerformanceSpec(slices=["region"], thresholds={"accuracy": 0.6}),
    )
    assert report.rows == n - 1
    assert report.metrics == pytest.approx(classification_metrics(truth[1:], prediction[1:]))
    slices = {s.value: s for s in report.slices}
    assert slices["north"].metrics["accuracy"] == 1.0
    assert 0.35 < slices["south"].metrics["accuracy"] < 0.65
    failed = {(c.scope, c.metric, c.rule) for c in report.checks if not c.passed}
    assert failed == {("region=south", "accuracy", "slice"), ("region=south", "accuracy", "threshold")}
    assert not report.passed


def test_text_labels_and_regression() -> None:
    report = compute_performance(
        _joined(["cat", "dog", "dog"], ["cat", "dog", "cat"], ["a", "a", "b"]), PerformanceSpec()
    )
    assert report.metrics["accuracy"] == pytest.approx(2 / 3)
    assert report.passed

    truth, predicted = [1.0, 2.0, 3.0, 4.0], [1.5, 2.0, 2.0, 5.0]
    regression = compute_performance(
        _joined(predicted, truth, ["a"] * 4), PerformanceSpec(task="regression", thresholds={"rmse": 0.5})
    )
    assert regression.metrics == pytest.approx(regression_metrics(truth, predicted))
    [check] = regression.checks
    assert (check.metric, check.passed) == ("rmse", False)  # a ceiling: errors are lower-is-better


def test_unlabelled_window_and_bad_slice() -> None:
    frame = _joined([1, 0], [None, None], ["a", "b"])
    assert compute_performance(frame, PerformanceSpec()).rows == 0
    with pytest.raises(EvaluationInputError) as caught:
        compute_performance(_joined([1], [1], ["a"]), PerformanceSpec(slices=["planet"]))
    assert caught.value.details == {"field": "performance.slices"}
