from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from shipyard.errors import InvalidArgument
from shipyard.models import ColumnSpec, ModelSignature, TensorSpec, infer_signature, load_model, save_model
from tests.models.conftest import Dataset


def test_dataframe_gives_named_typed_columns() -> None:
    frame = pd.DataFrame(
        {
            "age": np.array([31, 45], dtype=np.int64),
            "income": [1.5, np.nan],
            "city": ["Lyon", "Oslo"],
            "member": [True, False],
            "seen": pd.to_datetime(["2024-01-01", "2024-02-01"]),
            "code": np.array([1, 2], dtype=np.int32),
        }
    )

    signature = infer_signature(frame)

    assert signature.takes_columns
    assert [(s.name, s.type, s.optional) for s in signature.inputs] == [
        ("age", "int64", False),
        ("income", "float64", True),
        ("city", "string", False),
        ("member", "bool", False),
        ("seen", "datetime", False),
        ("code", "int32", False),
    ]


def test_numpy_gives_a_tensor_with_any_batch_size() -> None:
    signature = infer_signature(np.zeros((5, 3, 2), dtype=np.float32), np.zeros(5, dtype=np.int64))

    assert signature.inputs == [TensorSpec(type="float32", shape=[-1, 3, 2])]
    assert signature.outputs == [TensorSpec(type="int64", shape=[-1])]


def test_dict_of_arrays_gives_named_tensors() -> None:
    signature = infer_signature({"ids": np.array([[1, 2]]), "mask": np.array([[True, False]])})

    assert signature.inputs == [
        TensorSpec(name="ids", type="int64", shape=[-1, 2]),
        TensorSpec(name="mask", type="bool", shape=[-1, 2]),
    ]


def test_list_of_records_gives_columns() -> None:
    signature = infer_signature([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}])

    assert signature.inputs == [ColumnSpec(name="a", type="int64"), ColumnSpec(name="b", type="string")]


def test_params_get_types_and_defaults() -> None:
    signature = infer_signature(np.zeros((1, 2)), params={"temperature": 0.5, "top_k": np.int64(3)})

    assert [(p.name, p.type, p.default) for p in signature.params or []] == [
        ("temperature", "float64", 0.5),
        ("top_k", "int64", 3),
    ]


def test_unusable_examples_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="cannot infer"):
        infer_signature(object())
    with pytest.raises(InvalidArgument, match="empty dict"):
        infer_signature({})


def test_inferred_on_save_from_example_and_output(tmp_path: Path, iris: Dataset, iris_pipeline) -> None:
    manifest = save_model(iris_pipeline, tmp_path / "m", input_example=iris.X.head(4))

    assert manifest.signature is not None
    assert [s.name for s in manifest.signature.inputs] == list(iris.X.columns)
    assert {s.type for s in manifest.signature.inputs} == {"float64"}
    assert manifest.signature.outputs == [TensorSpec(type="int64", shape=[-1])]
    assert manifest.input_example is not None
    assert manifest.input_example.path == "input_example.json"
    pd.testing.assert_frame_equal(load_model(tmp_path / "m").input_example, iris.X.head(4))


def test_numpy_example_is_stored_and_read_back(tmp_path: Path, iris: Dataset, iris_pipeline) -> None:
    manifest = save_model(iris_pipeline, tmp_path / "m", input_example=iris.array[:2])

    assert manifest.signature is not None
    assert manifest.signature.inputs == [TensorSpec(type="float64", shape=[-1, 4])]
    np.testing.assert_array_equal(load_model(tmp_path / "m").input_example, iris.array[:2])


def test_no_example_no_signature(tmp_path: Path, iris_pipeline) -> None:
    assert save_model(iris_pipeline, tmp_path / "m").signature is None


def test_explicit_signature_is_kept_and_enforced(tmp_path: Path, iris: Dataset, iris_pipeline) -> None:
    signature = ModelSignature(
        inputs=[ColumnSpec(name=str(name), type="float64") for name in iris.X.columns],
        outputs=[TensorSpec(type="int64", shape=[-1])],
    )
    manifest = save_model(iris_pipeline, tmp_path / "m", signature=signature, input_example=iris.X.head(2))

    assert manifest.signature == signature
    assert load_model(tmp_path / "m").signature == signature


def test_explicit_signature_must_match_the_example(tmp_path: Path, iris: Dataset, iris_pipeline) -> None:
    signature = ModelSignature(inputs=[ColumnSpec(name="colour", type="string")])

    with pytest.raises(InvalidArgument, match="colour"):
        save_model(iris_pipeline, tmp_path / "m", signature=signature, input_example=iris.X.head(2))


def test_signature_argument_is_checked(tmp_path: Path, iris_pipeline) -> None:
    with pytest.raises(InvalidArgument, match="signature"):
        save_model(iris_pipeline, tmp_path / "m", signature="guess")  # type: ignore[arg-type]


def test_signatures_do_not_mix_columns_and_tensors() -> None:
    with pytest.raises(ValidationError, match="mixes columns and tensors"):
        ModelSignature(inputs=[ColumnSpec(name="a", type="float64"), TensorSpec(type="float64", shape=[-1])])
    with pytest.raises(ValidationError, match="needs a name"):
        ModelSignature(inputs=[TensorSpec(type="float64", shape=[-1]), TensorSpec(type="int64", shape=[-1])])


def test_signature_json_round_trip() -> None:
    signature = infer_signature(pd.DataFrame({"a": [1.0]}), np.array([1]), params={"k": 1})

    assert ModelSignature.model_validate_json(signature.model_dump_json()) == signature


class RowCounter:
    """Returns one zero per input row, whatever shape the input has."""

    def predict(self, data):
        rows = len(next(iter(data.values()))) if isinstance(data, dict) else len(data)
        return np.zeros(rows)


def test_dict_of_arrays_example_round_trip(tmp_path: Path) -> None:
    example = {"ids": np.array([[1, 2]]), "mask": np.array([[True, False]])}
    manifest = save_model(RowCounter(), tmp_path / "m", input_example=example)

    loaded = load_model(tmp_path / "m")

    assert manifest.input_example is not None
    assert manifest.input_example.type == "tensors"
    stored = loaded.input_example
    assert stored.keys() == example.keys()
    for name, array in example.items():
        np.testing.assert_array_equal(stored[name], array)
        assert stored[name].dtype == array.dtype
    np.testing.assert_array_equal(loaded.predict(stored), [0.0])


def test_records_example_with_missing_values_and_dates(tmp_path: Path) -> None:
    example = [
        {"when": pd.Timestamp("2024-05-01T10:00:00"), "score": np.nan, "city": "Lyon"},
        {"when": pd.Timestamp("2024-05-02T11:30:00"), "score": 0.5, "city": "Oslo"},
    ]
    manifest = save_model(RowCounter(), tmp_path / "m", input_example=example)

    assert manifest.signature is not None
    assert [(s.name, s.type, s.optional) for s in manifest.signature.inputs] == [
        ("when", "datetime", False),
        ("score", "float64", True),
        ("city", "string", False),
    ]
    assert load_model(tmp_path / "m").input_example == [
        {"when": "2024-05-01T10:00:00", "score": None, "city": "Lyon"},
        {"when": "2024-05-02T11:30:00", "score": 0.5, "city": "Oslo"},
    ]


def test_dataframe_example_keeps_its_types(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"n": np.array([1, 2], dtype=np.int32), "x": [np.nan, 1.5], "day": pd.to_datetime(["2024-01-01", "2024-01-02"])}
    )
    save_model(RowCounter(), tmp_path / "m", input_example=frame)

    stored = load_model(tmp_path / "m").input_example

    assert stored["n"].dtype == np.int32
    assert np.isnan(stored["x"][0])
    assert stored["day"].dt.day.tolist() == [1, 2]
