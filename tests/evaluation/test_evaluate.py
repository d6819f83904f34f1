"""shipyard.evaluate end to end (local mode): bootstrap intervals, runs, artifacts, reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score

import shipyard
from shipyard.client import Client
from shipyard.evaluation import EvaluationInputError
from shipyard.evaluation.compute import CustomMetric, Inputs, Predictions, slice_result
from shipyard.evaluation.evaluate import evaluate, metric_key
from shipyard.evaluation.report import render_html
from shipyard.models import load_model, save_model


def test_bootstrap_intervals_are_seeded_and_paired() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 400)
    s1, s2 = np.clip(y * 0.4 + rng.random(400) * 0.6, 0, 1), rng.random(400)
    inputs = Inputs(
        "classifier",
        y,
        Predictions((s1 > 0.5).astype(int), np.column_stack([1 - s1, s1])),
        Predictions((s2 > 0.5).astype(int), np.column_stack([1 - s2, s2])),
        labels=[0, 1],
    )
    rows = np.ones(400, dtype=bool)
    one = slice_result(inputs, rows, bootstrap_count=300, seed=5, confidence=0.9)
    again = slice_result(inputs, rows, bootstrap_count=300, seed=5, confidence=0.9)
    other = slice_result(inputs, rows, bootstrap_count=300, seed=6, confidence=0.9)
    assert one == again
    assert one.delta["roc_auc"] != other.delta["roc_auc"]
    delta = one.delta["roc_auc"]
    assert delta.low is not None
    assert delta.high is not None
    assert delta.low < delta.value < delta.high  # type: ignore[operator]
    assert delta.low > 0  # an informative model against noise
    assert one.mcnemar is not None
    assert one.confusion is not None


@pytest.fixture
def diabetes(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    data = load_diabetes(as_frame=True)
    frame = data.data.copy()
    frame["sex_group"] = np.where(frame["sex"] > 0, "a", "b")
    frame["target"] = data.target
    model = Ridge().fit(data.data, data.target)
    save_model(model, tmp_path / "ridge", input_example=data.data.head(3))
    return tmp_path / "ridge", frame


def test_a_regressor_is_evaluated_logged_and_reported(client: Client, diabetes: tuple[Path, pd.DataFrame]) -> None:
    path, frame = diabetes
    result = evaluate(
        str(path),
        frame,
        targets="target",
        model_type="regressor",
        slices=["sex_group"],
        custom_metrics={"max_error": CustomMetric(lambda t, p: float(np.max(np.abs(t - p))), greater_is_better=False)},
        bootstrap=50,
        latency_requests=10,
        client=client,
    )
    assert set(result.slices) == {"sex_group:a", "sex_group:b"}
    assert result.overall.metrics["rmse"].value is not None
    predicted = np.asarray(load_model(path).predict(frame.drop(columns=["sex_group", "target"]))).ravel()
    assert result.overall.metrics["r2"].value == pytest.approx(r2_score(frame["target"], predicted))
    assert result.overall.metrics["max_error"].low is not None
    assert result.lower_is_better == ["max_error"]
    assert result.latency["requests"] == 10
    assert result.run_id is not None
    files = {a.path for a in client.list_artifacts(result.run_id).items}
    assert {"evaluation/evaluation.json", "evaluation/report.html"} <= files
    run = client.get_run(result.run_id)
    assert run.metrics["rmse"].value == pytest.approx(result.overall.metrics["rmse"].value)
    assert metric_key("recall[class=1]") == "recall.class.1"


def test_the_html_report_is_self_contained(client: Client, diabetes: tuple[Path, pd.DataFrame]) -> None:
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    data = load_breast_cancer(as_frame=True)
    model = LogisticRegression(max_iter=3000).fit(data.data, data.target)
    directory = diabetes[0].parent / "cancer"
    save_model(model, directory, input_example=data.data.head(2))
    frame = data.data.assign(label=data.target)
    result = evaluate(str(directory), frame, bootstrap=20, latency_requests=0, log=False, client=client)
    page = render_html(result)
    assert page.count("data:image/png;base64,") == 3  # ROC, calibration, confusion
    assert "roc_auc" in page
    assert "http" not in page.replace("http-equiv", "")


def test_bad_input_names_the_field(client: Client, diabetes: tuple[Path, pd.DataFrame]) -> None:
    path, frame = diabetes
    with pytest.raises(EvaluationInputError) as info:
        evaluate(str(path), frame, targets="nope", client=client)
    assert info.value.details["field"] == "targets"
    with pytest.raises(EvaluationInputError) as info:
        evaluate(str(path), frame, targets="target", model_type="regressor", slices=["zzz"], client=client, log=False)
    assert info.value.details["field"] == "slices"


def test_evaluate_is_part_of_the_sdk() -> None:
    evaluate_fn: Any = shipyard.evaluate
    assert evaluate_fn is evaluate
