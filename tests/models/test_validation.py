"""Input checks against the signature, and the shapes predict() returns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shipyard.errors import ValidationFailed
from shipyard.models import ColumnSpec, ModelSignature, TensorSpec, load_model, save_model
from shipyard.models.validation import normalise_output, prepare_input
from tests.models.conftest import Dataset

COLUMNS = ModelSignature(
    inputs=[
        ColumnSpec(name="a", type="float64"),
        ColumnSpec(name="b", type="int64"),
        ColumnSpec(name="note", type="string", optional=True),
    ]
)
TENSOR = ModelSignature(inputs=[TensorSpec(type="float32", shape=[-1, 2])])
NAMED = ModelSignature(
    inputs=[TensorSpec(name="ids", type="int64", shape=[-1, 3]), TensorSpec(name="scale", type="float64", shape=[-1])]
)


def test_missing_column_is_named(tmp_path: Path, iris: Dataset, iris_pipeline) -> None:
    save_model(iris_pipeline, tmp_path / "m", input_example=iris.X.head(2))

    with pytest.raises(ValidationFailed, match="missing column 'petal width \\(cm\\)'") as caught:
        load_model(tmp_path / "m").predict(iris.X.drop(columns=["petal width (cm)"]))

    assert caught.value.details == {"field": "petal width (cm)", "problem": "missing"}


def test_uncastable_column_is_named(tmp_path: Path, iris: Dataset, iris_pipeline) -> None:
    save_model(iris_pipeline, tmp_path / "m", input_example=iris.X.head(2))
    frame = iris.X.head(3).assign(**{"sepal width (cm)": ["wide", "narrow", "wide"]})

    with pytest.raises(ValidationFailed, match="'sepal width \\(cm\\)' has type string") as caught:
        load_model(tmp_path / "m").predict(frame)

    assert caught.value.details["expected"] == "float64"


def test_ints_become_floats_columns_are_reordered_and_extras_dropped() -> None:
    frame = pd.DataFrame({"extra": ["x"], "b": np.array([7], dtype=np.int32), "a": [3]})

    prepared = prepare_input(frame, COLUMNS)

    assert list(prepared.columns) == ["a", "b"]
    assert prepared["a"].dtype == np.float64
    assert prepared["b"].dtype == np.int64


def test_floats_do_not_become_ints() -> None:
    with pytest.raises(ValidationFailed, match="'b' has type float64, which cannot be safely cast to int64"):
        prepare_input(pd.DataFrame({"a": [1.0], "b": [2.5]}), COLUMNS)


def test_records_dicts_and_arrays_fit_a_column_signature() -> None:
    from_records = prepare_input([{"a": 1.0, "b": 2, "note": "hi"}], COLUMNS)
    from_dict = prepare_input({"a": [1.0], "b": [2]}, COLUMNS)
    two_floats = ModelSignature(inputs=[ColumnSpec(name="a", type="float64"), ColumnSpec(name="c", type="float64")])
    from_array = prepare_input(np.array([[1.0, 2.0]]), two_floats)

    assert list(from_records.columns) == ["a", "b", "note"]
    assert list(from_dict.columns) == ["a", "b"]
    assert list(from_array.columns) == ["a", "c"]


def test_array_of_the_wrong_width_for_columns() -> None:
    with pytest.raises(ValidationFailed, match="expected a table with columns"):
        prepare_input(np.zeros((2, 5)), COLUMNS)


def test_tensor_shape_and_type() -> None:
    assert prepare_input(np.zeros((4, 2), dtype=np.int8), TENSOR).dtype == np.float32
    assert prepare_input([[1.0, 2.0]], TENSOR).shape == (1, 2)
    with pytest.raises(ValidationFailed, match=r"shape \[4, 3\]; expected \[-1, 2\]"):
        prepare_input(np.zeros((4, 3), dtype=np.float32), TENSOR)
    assert prepare_input(np.zeros((4, 2)), TENSOR).dtype == np.float32  # JSON numbers are float64
    with pytest.raises(ValidationFailed, match="string, which cannot be safely cast to float32"):
        prepare_input(np.array([["a", "b"]]), TENSOR)


def test_named_tensors() -> None:
    prepared = prepare_input({"ids": [[1, 2, 3]], "scale": [0.5]}, NAMED)

    assert set(prepared) == {"ids", "scale"}
    with pytest.raises(ValidationFailed, match="missing tensor 'scale'") as caught:
        prepare_input({"ids": [[1, 2, 3]]}, NAMED)
    assert caught.value.details["field"] == "scale"
    with pytest.raises(ValidationFailed, match="pass a dict of arrays"):
        prepare_input(np.zeros((1, 3)), NAMED)


def test_unsupported_input_types() -> None:
    with pytest.raises(ValidationFailed, match="predict takes"):
        prepare_input("a string", None)
    with pytest.raises(ValidationFailed, match="empty"):
        prepare_input([], None)


def test_outputs_are_arrays_or_frames() -> None:
    assert isinstance(normalise_output(pd.Series([1, 2])), np.ndarray)
    assert isinstance(normalise_output([1, 2]), np.ndarray)
    frame = normalise_output({"label": np.array([0, 1]), "proba": np.array([[0.9, 0.1], [0.2, 0.8]])})
    assert list(frame.columns) == ["label", "proba"]
    np.testing.assert_array_equal(frame["proba"][1], [0.2, 0.8])
