from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from skl2onnx import to_onnx
from sklearn.linear_model import LinearRegression, LogisticRegression

from shipyard.errors import InvalidArgument
from shipyard.models import detect_flavor, load_model, save_model
from tests.models.conftest import Dataset


@pytest.fixture(scope="module")
def iris_classifier(iris: Dataset):
    """A fitted classifier and its ONNX graph: outputs ``label`` and ``probabilities``."""
    features = iris.array.astype(np.float32)
    classifier = LogisticRegression(max_iter=500).fit(features, iris.y)
    return classifier, to_onnx(classifier, features[:1], options={id(classifier): {"zipmap": False}})


@pytest.fixture(scope="module")
def diabetes_regressor(diabetes: Dataset):
    features = diabetes.array.astype(np.float32)
    regressor = LinearRegression().fit(features, diabetes.y)
    return regressor, to_onnx(regressor, features[:1])


def test_classifier_round_trip_returns_every_output(tmp_path: Path, iris: Dataset, iris_classifier) -> None:
    classifier, proto = iris_classifier
    manifest = save_model(proto, tmp_path / "m", input_example=iris.array[:3])

    assert detect_flavor(proto) == "onnx"
    assert (manifest.serialization, manifest.model_file) == ("onnx", "model.onnx")
    assert manifest.flavor_info["outputs"] == ["label", "probabilities"]
    loaded = load_model(tmp_path / "m", allow_pickle=False)
    assert isinstance(loaded.raw, ort.InferenceSession)
    out = loaded.predict(iris.array)  # float64 in; the graph takes float32
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["label", "probabilities"]
    np.testing.assert_array_equal(out["label"].to_numpy(), classifier.predict(iris.array.astype(np.float32)))
    assert loaded.signature is not None
    assert [spec.name for spec in loaded.signature.outputs or []] == ["label", "probabilities"]


def test_regressor_round_trip_returns_an_array(tmp_path: Path, diabetes: Dataset, diabetes_regressor) -> None:
    regressor, proto = diabetes_regressor
    save_model(proto, tmp_path / "m")

    out = load_model(tmp_path / "m").predict(diabetes.X)

    assert isinstance(out, np.ndarray)
    expected = regressor.predict(diabetes.array.astype(np.float32))
    np.testing.assert_allclose(out.ravel(), expected, rtol=1e-4)


def test_bytes_and_paths_need_the_flavor_named(tmp_path: Path, diabetes: Dataset, diabetes_regressor) -> None:
    _, proto = diabetes_regressor
    data = proto.SerializeToString()
    (tmp_path / "graph.onnx").write_bytes(data)

    with pytest.raises(InvalidArgument, match="flavor"):
        save_model(data, tmp_path / "guess")
    save_model(data, tmp_path / "from-bytes", flavor="onnx")
    save_model(tmp_path / "graph.onnx", tmp_path / "from-path", flavor="onnx")

    first = load_model(tmp_path / "from-bytes").predict(diabetes.array)
    np.testing.assert_array_equal(first, load_model(tmp_path / "from-path").predict(diabetes.array))
    assert (tmp_path / "from-bytes" / "model.onnx").read_bytes() == data


def test_garbage_is_not_an_onnx_model(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="not an ONNX model"):
        save_model(b"definitely not protobuf", tmp_path / "m", flavor="onnx")
    assert list(tmp_path.iterdir()) == []
