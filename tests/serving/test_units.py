"""The data plane's pieces on their own: codecs, signature fitting, splitting, lookup."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shipyard import serving
from shipyard.errors import InvalidArgument, NotFound, ValidationFailed
from shipyard.models.signature import ColumnSpec, ModelSignature, TensorSpec
from shipyard.serving import DataPlane, ServedModel, ServingMetrics, ServingSettings
from shipyard.serving.errors import DeadlineExceeded, NotReady, Overloaded, http_status, rejection_reason
from shipyard.serving.inputs import assemble, prepare
from shipyard.serving.outputs import named_outputs, plain, split
from shipyard.serving.tensors import columns_from_split, decode_tensor, rows_to_data, value_array
from tests.serving.conftest import doubler


def test_public_surface_is_sorted_and_resolves() -> None:
    assert serving.__all__ == sorted(serving.__all__)
    for name in serving.__all__:
        assert hasattr(serving, name), name


def test_statuses_follow_the_serving_protocols() -> None:
    assert http_status(ValidationFailed("x")) == 400  # the control plane says 422; OIP, V1 and MLflow say 400
    assert http_status(InvalidArgument("x")) == 400
    assert http_status(NotFound("x")) == 404
    assert http_status(Overloaded("x", 2)) == 429
    assert http_status(NotReady("x")) == 503
    assert http_status(DeadlineExceeded("x")) == 504
    assert [rejection_reason(s) for s in (400, 413, 429, 503, 504, 500, 200)] == [
        "invalid", "invalid", "queue_full", "not_ready", "deadline", None, None,
    ]  # fmt: skip


def test_decode_tensor_nested_and_flat_are_the_same() -> None:
    nested = decode_tensor("x", "INT32", [2, 2], [[1, 2], [3, 4]])
    flat = decode_tensor("x", "INT32", [2, 2], [1, 2, 3, 4])
    assert nested.dtype == np.int32
    assert np.array_equal(nested, flat)
    assert decode_tensor("x", "FP32", [0, 4], []).shape == (0, 4)
    assert decode_tensor("x", "UINT64", [1], [2**64 - 1])[0] == 2**64 - 1
    with pytest.raises(ValidationFailed, match="out of range for UINT64"):
        decode_tensor("x", "UINT64", [1], [2**64])
    with pytest.raises(ValidationFailed, match="input 'x'"):
        decode_tensor("x", "BOOL", [1], [{"a": 1}])


def test_rows_and_columns_keep_each_columns_own_type() -> None:
    columns = rows_to_data([{"a": 1, "b": "x"}, {"a": None, "b": "y"}], "instances")
    assert isinstance(columns, dict)
    assert columns["a"].dtype == np.float64
    assert math.isnan(columns["a"][1])
    assert columns["b"].tolist() == ["x", "y"]
    mixed = value_array([[1, "a"], [2, "b"]], "rows")
    assert mixed.dtype == object
    assert mixed[:, 0].tolist() == [1, 2]
    split_ = columns_from_split({"columns": ["a", "b"], "data": [[1, 2.5], [3, 4.5]]}, "dataframe_split")
    assert isinstance(split_, dict)
    assert split_["a"].dtype == np.int64
    assert split_["b"].tolist() == [2.5, 4.5]


def test_prepare_gives_equal_keys_to_compatible_requests_only() -> None:
    table = ModelSignature(inputs=[ColumnSpec(name="a", type="float64"), ColumnSpec(name="b", type="int64")])
    one = prepare(table, {"a": np.array([1.0]), "b": np.array([1])})
    two = prepare(table, {"b": np.array([2, 3]), "a": np.array([2, 3]), "extra": np.array(["ignored"] * 2)})
    assert one.key == two.key
    assert two.rows == 2
    assert two.value["a"].dtype == np.float64  # int64 widened to the declared float64
    positional = prepare(table, np.array([[1.5, 2.0]]))  # JSON rows [[1.5, 2]] arrive as floats
    assert positional.value["b"].dtype == np.int64
    with pytest.raises(ValidationFailed, match="column 'b'"):
        prepare(table, np.array([[1.5, 2.5]]))
    frame = assemble([one, two])
    assert isinstance(frame, pd.DataFrame)
    assert frame["a"].tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(ValidationFailed, match="column 'b' has type float64"):
        prepare(table, {"a": np.array([1.0]), "b": np.array([1.5])})
    fixed = ModelSignature(inputs=[TensorSpec(type="float32", shape=[2, 2])])
    assert prepare(fixed, np.zeros((2, 2))).key is None  # no batch dimension: never batched
    batch = ModelSignature(inputs=[TensorSpec(type="float32", shape=[-1, 2])])
    a, b = prepare(batch, np.zeros((1, 2))), prepare(batch, np.ones((3, 2)))
    assert a.key == b.key
    assert assemble([a, b]).shape == (4, 2)
    assert prepare(batch, np.zeros((1, 2), dtype=np.int64)).value.dtype == np.float32


def test_outputs_split_back_and_name_themselves() -> None:
    parts = split(np.arange(6), [1, 2, 3])
    assert parts is not None
    assert [p.tolist() for p in parts] == [[0], [1, 2], [3, 4, 5]]
    assert split(np.arange(5), [1, 2, 3]) is None  # rows do not line up: run one by one
    assert split(np.float64(1.0), [1, 1]) is None
    frame = pd.DataFrame({"label": [1, 2, 3], "probabilities": [np.array([0.1, 0.9])] * 3})
    pieces = split(frame, [2, 1])
    assert pieces is not None
    assert pieces[1]["label"].tolist() == [3]
    names = named_outputs(frame, "predictions")
    assert [n for n, _ in names] == ["label", "probabilities"]
    assert names[1][1].shape == (3, 2)
    assert plain(frame.iloc[:1])[0]["label"] == 1


def test_served_model_and_dataplane_lookup(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="model name"):
        ServedModel(name="a/b", loader=lambda: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(InvalidArgument, match="exactly one"):
        ServedModel(name="a")
    first = doubler(tmp_path, name="m")
    second = ServedModel(name="m", version="2", model=first.model)
    plane = DataPlane([first, second], ServingSettings(), ServingMetrics())
    assert plane.runtime("m").version == "2"  # the last listed answers unversioned requests
    assert plane.runtime("m", "1").version == "1"
    with pytest.raises(NotFound, match="no version '3'"):
        plane.runtime("m", "3")
    with pytest.raises(InvalidArgument, match="listed twice"):
        DataPlane([first, first], ServingSettings(), ServingMetrics())
    with pytest.raises(InvalidArgument):
        DataPlane([], ServingSettings(), ServingMetrics())
    assert not plane.ready  # nothing loaded until the plane starts
