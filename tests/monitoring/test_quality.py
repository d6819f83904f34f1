"""Data quality checks: each with its threshold and the numbers behind the verdict."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pytest
from pydantic import ValidationError

from shipyard.models.signature import ColumnSpec, ModelSignature, TensorSpec, infer_signature
from shipyard.monitoring import (
    ColumnRule,
    MonitoringInputError,
    QualitySpec,
    check_quality,
    infer_quality_spec,
)


def _frame(n: int = 1000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 90, n),
            "income": rng.normal(50_000, 10_000, n),
            "plan": rng.choice(["basic", "pro"], n),
        }
    )


def _by(report: object, check: str, column: str | None) -> dict:
    for c in report.checks:  # type: ignore[attr-defined]
        if c.check == check and c.column == column:
            return c.model_dump()
    raise AssertionError(f"no {check} check for {column}")


def test_a_clean_window_passes_every_check() -> None:
    spec = infer_quality_spec(_frame(seed=1))
    report = check_quality(_frame(seed=2), spec)
    assert report.passed, [c.message for c in report.failures]
    assert {c.check for c in report.checks} == {"type", "missing", "out_of_range", "unseen", "duplicates"}


def test_schema_missing_extra_and_wrong_types() -> None:
    spec = QualitySpec(
        columns=[
            ColumnRule(name="age", type="int64"),
            ColumnRule(name="income", type="float64"),
            ColumnRule(name="plan", type="string"),
            ColumnRule(name="score", type="float64"),
            ColumnRule(name="note", type="string", optional=True),
        ],
        allow_extra_columns=False,
    )
    data = _frame().assign(plan=1.5, extra="x").drop(columns=["income"]).assign(score=np.arange(1000))
    report = check_quality(data, spec)
    failures = {(c.check, c.column) for c in report.failures}
    assert failures == {("missing_column", "income"), ("type", "plan"), ("extra_column", "extra")}
    assert _by(report, "type", "plan")["details"] == {"expected": "string", "actual": "float64"}
    assert _by(report, "type", "score")["passed"]  # integers conform to float
    assert _by(report, "missing_column", "note")["passed"]  # optional
    allowed = check_quality(data, spec.model_copy(update={"allow_extra_columns": True}))
    assert _by(allowed, "extra_column", "extra")["passed"]


def test_an_int_column_turned_float_by_missing_values_still_conforms() -> None:
    data = pd.DataFrame({"n": [1.0, 2.0, np.nan, 4.0]})
    spec = QualitySpec(columns=[ColumnRule(name="n", type="int64", max_missing_rate=0.5)])
    assert check_quality(data, spec).passed
    assert not check_quality(pd.DataFrame({"n": [1.5, 2.0]}), spec).passed


def test_missing_rate_threshold() -> None:
    data = _frame()
    data.loc[:99, "income"] = np.nan
    spec = QualitySpec(columns=[ColumnRule(name="income")], max_missing_rate=0.1)
    check = _by(check_quality(data, spec), "missing", "income")
    assert (check["count"], check["rows"], check["value"], check["passed"]) == (100, 1000, 0.1, True)
    stricter = spec.model_copy(update={"columns": [ColumnRule(name="income", max_missing_rate=0.05)]})
    assert not _by(check_quality(data, stricter), "missing", "income")["passed"]


def test_out_of_range_rate_threshold() -> None:
    data = pd.DataFrame({"x": np.r_[np.linspace(0, 1, 990), np.full(10, 5.0), [np.nan] * 5]})
    spec = QualitySpec(columns=[ColumnRule(name="x", minimum=0, maximum=1)], max_out_of_range_rate=0.01)
    check = _by(check_quality(data, spec), "out_of_range", "x")
    assert (check["count"], check["rows"], check["passed"]) == (10, 1000, True)  # over present values
    assert check["details"]["observed_max"] == 5.0
    strict = QualitySpec(columns=[ColumnRule(name="x", minimum=0, maximum=1, max_out_of_range_rate=0.0)])
    assert not check_quality(data, strict).passed
    with pytest.raises(ValidationError, match=r"minimum 2\.0 > maximum 1\.0"):
        ColumnRule(name="x", minimum=2, maximum=1)
    with pytest.raises(MonitoringInputError, match="'plan' has a range"):
        check_quality(_frame(), QualitySpec(columns=[ColumnRule(name="plan", minimum=0)]))


def test_unseen_categories() -> None:
    data = pd.DataFrame({"plan": ["basic"] * 90 + ["gold"] * 6 + ["platinum"] * 4})
    spec = QualitySpec(columns=[ColumnRule(name="plan", categories=["basic", "pro"])], check_duplicates=False)
    check = _by(check_quality(data, spec), "unseen", "plan")
    assert (check["count"], check["value"], check["passed"]) == (10, 0.1, False)
    assert sorted(check["details"]["unseen_values"]) == ["gold", "platinum"]
    lenient = spec.model_copy(update={"max_unseen_rate": 0.1})
    assert check_quality(data, lenient).passed


def test_duplicates_pandas_and_arrow_agree() -> None:
    data = pd.concat([_frame(100), _frame(100).iloc[:7]], ignore_index=True)
    spec = QualitySpec(columns=[ColumnRule(name="age")], max_duplicate_rate=0.05)
    for frame in (data, pa.Table.from_pandas(data, preserve_index=False)):
        check = _by(check_quality(frame, spec), "duplicates", None)
        assert (check["count"], check["rows"], check["passed"]) == (7, 107, False)
    assert not any(
        c.check == "duplicates" for c in check_quality(data, spec.model_copy(update={"check_duplicates": False})).checks
    )


def test_from_signature() -> None:
    signature = infer_signature(_frame())
    spec = QualitySpec.from_signature(signature, max_missing_rate=0.0)
    assert [(c.name, c.type) for c in spec.columns] == [("age", "int64"), ("income", "float64"), ("plan", "string")]
    assert check_quality(_frame(), spec).passed
    with_outputs = ModelSignature(
        inputs=[ColumnSpec(name="a", type="float64")], outputs=[ColumnSpec(name="y", type="int64")]
    )
    assert [c.name for c in QualitySpec.from_signature(with_outputs, include_outputs=True).columns] == ["a", "y"]
    tensors = ModelSignature(inputs=[TensorSpec(type="float32", shape=[-1, 4])])
    with pytest.raises(MonitoringInputError, match="tensors"):
        QualitySpec.from_signature(tensors)


def test_inferred_spec_from_arrow() -> None:
    table = pa.Table.from_pandas(_frame(), preserve_index=False)
    spec = infer_quality_spec(table)
    rules = {c.name: c for c in spec.columns}
    assert rules["plan"].categories is not None
    assert sorted(rules["plan"].categories) == ["basic", "pro"]
    assert rules["income"].minimum is not None
    assert rules["age"].type == "int64"
    assert check_quality(table, spec).passed
    with pytest.raises(MonitoringInputError, match="empty"):
        infer_quality_spec(_frame().iloc[:0])


def test_checks_and_a_learned_spec_from_batches_equal_those_of_the_whole_frame() -> None:
    """The streaming path (QualityProfiler over record batches) decides with the frame's code:
    the same reports, and the same spec learned from a reference, batch boundaries anywhere."""
    from shipyard.monitoring.quality import (
        QualityProfiler,
        check_quality_profile,
        infer_quality_spec_from_profile,
        quality_profile,
    )

    reference = pa.Table.from_pandas(_frame(2000, seed=1), preserve_index=False)
    current = pd.concat([_frame(3000, seed=3), _frame(3000, seed=3).iloc[:40]], ignore_index=True)
    current.loc[::17, "income"] = np.nan
    current.loc[5, "income"] = np.inf
    current.loc[::29, "plan"] = "gold"
    current.loc[::31, "age"] = 95
    window = pa.Table.from_pandas(current, preserve_index=False)

    learning = QualityProfiler(max_categories=50)
    for batch in reference.to_batches(max_chunksize=128):
        learning.add(batch)
    learned = infer_quality_spec_from_profile(learning.result(quality_profile(reference).duplicates))
    assert learned == infer_quality_spec(reference)
    rules = {rule.name: rule for rule in learned.columns}
    assert rules["age"].categories is None  # 72 distinct ages: more than 50, so a range
    assert rules["age"].minimum == 18

    by_hand = QualitySpec(
        columns=[
            ColumnRule(name="age", type="int64", categories=list(range(18, 60)), minimum=18, maximum=90),
            ColumnRule(name="income", type="int64", minimum=20_000),
            ColumnRule(name="plan", categories=["basic"]),
            ColumnRule(name="missing", optional=True),
        ],
        allow_extra_columns=False,
    )
    for spec in (learned, by_hand):
        streamed = QualityProfiler(spec)
        for batch in window.to_batches(max_chunksize=333):
            streamed.add(batch)
        report = check_quality_profile(streamed.result(quality_profile(window, spec).duplicates), spec)
        assert report == check_quality(window, spec)
        assert not report.passed
    failures = {(c.check, c.column) for c in check_quality(window, by_hand).failures}
    assert failures == {("unseen", "age"), ("type", "income"), ("missing", "income"), ("unseen", "plan"),
                        ("out_of_range", "age"), ("duplicates", None)}  # fmt: skip
