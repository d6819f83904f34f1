"""MLflow model directories, written by hand exactly as mlflow 3.x lays them out (mlflow is not installed)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
import yaml
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from shipyard.errors import InvalidArgument, PermissionDenied, PreconditionFailed
from shipyard.models import ColumnSpec, TensorSpec, load_model, read_manifest
from shipyard.models.mlflow_format import signature_from_mlflow
from tests.models.conftest import Dataset


class CustomScaler(StandardScaler):  # type: ignore[misc]  # sklearn ships no types
    """User code inside a skops file: never trusted, whatever MLmodel says."""


class LookupModel:
    """Shaped like an mlflow.pyfunc.PythonModel: load_context(context), predict(context, model_input, params)."""

    def load_context(self, context: Any) -> None:
        self.names = json.loads(Path(context.artifacts["names"]).read_text())

    def predict(self, context: Any, model_input: Any, params: dict[str, Any] | None = None) -> list[str]:
        offset = (params or {}).get("offset", 0)
        petal_length = np.asarray(model_input)[:, 2]
        return [self.names[min(int(v) + offset, len(self.names) - 1)] for v in petal_length]


def _mlmodel(path: Path, flavors: dict[str, Any], **extra: Any) -> None:
    doc = {
        "flavors": flavors,
        "mlflow_version": "3.1.0",
        "model_size_bytes": 1234,
        "model_uuid": "0d9a4b0f7a5e4f0e9c1f2b3a4d5e6f70",
        "utc_time_created": "2025-03-04 05:06:07.123456",
        **extra,
    }
    (path / "MLmodel").write_text(yaml.safe_dump(doc, default_flow_style=False))
    (path / "requirements.txt").write_text("mlflow==3.1.0\nscikit-learn==1.9.1\n# a comment\ncloudpickle==3.1.2\n")
    (path / "conda.yaml").write_text("name: mlflow-env\ndependencies:\n- python=3.11.7\n")
    (path / "python_env.yaml").write_text("python: 3.11.7\nbuild_dependencies:\n- pip\n")


def _env() -> dict[str, Any]:
    return {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}


def _columns_signature(columns: list[str]) -> dict[str, Any]:
    return {
        "inputs": json.dumps([{"type": "double", "name": c, "required": True} for c in columns]),
        "outputs": json.dumps([{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]),
        "params": None,
    }


def sklearn_dir(path: Path, model: Any, fmt: str, X: pd.DataFrame | None = None, trusted: Any = None) -> Path:
    """What ``mlflow.sklearn.save_model(model, path, serialization_format=fmt, ...)`` writes."""
    path.mkdir()
    model_file = "model.skops" if fmt == "skops" else "model.pkl"
    if fmt == "skops":
        sio.dump(model, path / model_file)
    else:
        with (path / model_file).open("wb") as fh:
            cloudpickle.dump(model, fh)
    extra: dict[str, Any] = {}
    if X is not None:
        extra["signature"] = _columns_signature([str(c) for c in X.columns])
        example = {"columns": [str(c) for c in X.columns], "data": X.head(2).to_numpy().tolist()}
        (path / "input_example.json").write_text(json.dumps(example))
        (path / "serving_input_example.json").write_text(json.dumps({"dataframe_split": example}))
        extra["saved_input_example_info"] = {
            "artifact_path": "input_example.json",
            "pandas_orient": "split",
            "serving_input_path": "serving_input_example.json",
            "type": "dataframe",
        }
    flavors = {
        "python_function": {
            "env": _env(),
            "loader_module": "mlflow.sklearn",
            "model_path": model_file,
            "predict_fn": "predict",
            "python_version": "3.11.7",
        },
        "sklearn": {
            "code": None,
            "pickled_model": model_file,
            "serialization_format": fmt,
            "sklearn_version": "1.9.1",
            "skops_trusted_types": trusted,
        },
    }
    _mlmodel(path, flavors, **extra)
    return path


def python_model_dir(path: Path, model: Any) -> Path:
    """What ``mlflow.pyfunc.save_model(path, python_model=model, artifacts={"names": ...})`` writes."""
    path.mkdir()
    (path / "artifacts").mkdir()
    (path / "artifacts" / "names.json").write_text(json.dumps(["setosa", "versicolor", "virginica"]))
    with (path / "python_model.pkl").open("wb") as fh:
        cloudpickle.dump(model, fh)
    flavors = {
        "python_function": {
            "artifacts": {"names": {"path": "artifacts/names.json", "uri": "/home/me/names.json"}},
            "cloudpickle_version": cloudpickle.__version__,
            "code": None,
            "env": _env(),
            "loader_module": "mlflow.pyfunc.model",
            "python_model": "python_model.pkl",
            "python_version": "3.11.7",
            "streamable": False,
        }
    }
    signature = {
        "inputs": json.dumps([{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 4]}}]),
        "outputs": json.dumps([{"type": "string", "required": True}]),
        "params": json.dumps([{"name": "offset", "type": "long", "default": 0, "shape": None}]),
    }
    _mlmodel(path, flavors, signature=signature)
    return path


def test_sklearn_cloudpickle_model(tmp_path: Path, iris: Dataset, iris_pipeline) -> None:
    path = sklearn_dir(tmp_path / "mlflow", iris_pipeline, "cloudpickle", X=iris.X)

    loaded = load_model(path)

    np.testing.assert_array_equal(loaded.predict(iris.X), iris_pipeline.predict(iris.X))
    manifest = loaded.manifest
    assert (manifest.source_format, manifest.flavor, manifest.serialization) == ("mlflow", "sklearn", "pickle")
    assert manifest.unsafe is True
    assert manifest.flavor_info["pickler"] == "cloudpickle"
    assert manifest.flavor_info["mlflow"]["mlflow_version"] == "3.1.0"
    assert manifest.requirements == ["mlflow==3.1.0", "scikit-learn==1.9.1", "cloudpickle==3.1.2"]
    assert manifest.python_version == "3.11.7"
    assert manifest.created_at.isoformat() == "2025-03-04T05:06:07.123456+00:00"
    assert "MLmodel" in [f.path for f in manifest.files]
    assert loaded.signature is not None
    assert loaded.signature.inputs[0] == ColumnSpec(name="sepal length (cm)", type="float64")
    assert loaded.signature.outputs == [TensorSpec(type="int64", shape=[-1])]
    pd.testing.assert_frame_equal(loaded.input_example, iris.X.head(2))


def test_sklearn_pickle_is_refused_without_allow_pickle(tmp_path: Path, iris_pipeline) -> None:
    path = sklearn_dir(tmp_path / "mlflow", iris_pipeline, "pickle")

    with pytest.raises(PermissionDenied, match=re.escape("'model.pkl' is a pickle")):
        load_model(path, allow_pickle=False)


def test_sklearn_skops_model_loads_without_pickle(tmp_path: Path, iris: Dataset) -> None:
    forest = RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(iris.array, iris.y)
    path = sklearn_dir(tmp_path / "mlflow", forest, "skops", trusted=["sklearn.tree._tree.Tree"])

    loaded = load_model(path, allow_pickle=False)

    assert loaded.manifest.serialization == "skops"
    assert loaded.manifest.unsafe is False
    np.testing.assert_array_equal(loaded.predict(iris.array), forest.predict(iris.array))


def test_skops_trusted_types_in_mlmodel_are_not_trusted(tmp_path: Path, iris: Dataset) -> None:
    model = make_pipeline(CustomScaler(), DecisionTreeClassifier()).fit(iris.array, iris.y)
    trusted = ["tests.models.test_mlflow_format.CustomScaler", "sklearn.tree._tree.Tree"]
    path = sklearn_dir(tmp_path / "mlflow", model, "skops", trusted=trusted)

    with pytest.raises(PermissionDenied, match="CustomScaler"):
        load_model(path)


def test_legacy_python_function_only_sklearn_model(tmp_path: Path, iris: Dataset, iris_pipeline) -> None:
    path = tmp_path / "legacy"
    path.mkdir()
    with (path / "model.pkl").open("wb") as fh:
        cloudpickle.dump(iris_pipeline, fh)
    flavors = {"python_function": {"loader_module": "mlflow.sklearn", "data": "model.pkl", "env": "conda.yaml"}}
    _mlmodel(path, flavors)

    loaded = load_model(path)

    assert loaded.manifest.flavor_info["pickler"] == "pickle"  # MLflow's default when unspecified
    np.testing.assert_array_equal(loaded.predict(iris.X), iris_pipeline.predict(iris.X))


def test_python_model_with_artifacts_and_params(tmp_path: Path, iris: Dataset) -> None:
    path = python_model_dir(tmp_path / "mlflow", LookupModel())

    loaded = load_model(path)

    assert loaded.manifest.flavor == "pyfunc"
    assert loaded.manifest.serialization == "pickle"
    assert isinstance(loaded.raw, LookupModel)
    rows = iris.array[[0, 60, 120]]  # petal lengths 1.4, 4.0, 5.0
    np.testing.assert_array_equal(loaded.predict(rows), ["versicolor", "virginica", "virginica"])
    np.testing.assert_array_equal(loaded.predict(rows[:1], params={"offset": 1}), ["virginica"])
    assert loaded.signature is not None
    assert loaded.signature.inputs == [TensorSpec(type="float64", shape=[-1, 4])]
    assert loaded.signature.outputs is None  # an unnamed column spec has no Shipyard equivalent
    assert [p.name for p in loaded.signature.params or []] == ["offset"]


def test_python_model_is_refused_without_allow_pickle(tmp_path: Path) -> None:
    path = python_model_dir(tmp_path / "mlflow", LookupModel())

    with pytest.raises(PermissionDenied, match=re.escape("python_model.pkl")):
        load_model(path, allow_pickle=False)


def test_a_pickle_needing_an_absent_module_names_it(tmp_path: Path) -> None:
    path = python_model_dir(tmp_path / "mlflow", LookupModel())
    # Protocol-0 pickle of a global from a module that is not installed (as mlflow would be).
    (path / "python_model.pkl").write_bytes(b"cmlflow_is_not_here.pyfunc\nPythonModel\n.")

    with pytest.raises(PreconditionFailed, match="'mlflow_is_not_here'") as caught:
        load_model(path)

    assert caught.value.details["module"] == "mlflow_is_not_here"


def test_other_flavors_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "torch"
    path.mkdir()
    (path / "data").mkdir()
    flavors = {
        "python_function": {"loader_module": "mlflow.pytorch", "data": "data", "env": _env()},
        "pytorch": {"model_data": "data", "pytorch_version": "2.4.0"},
    }
    _mlmodel(path, flavors)

    with pytest.raises(InvalidArgument, match="unsupported MLflow model"):
        read_manifest(path)


def test_signature_mapping() -> None:
    signature = signature_from_mlflow(
        {
            "inputs": json.dumps(
                [
                    {"type": "long", "name": "n", "required": True},
                    {"type": "float", "name": "f", "required": False},
                    {"type": "boolean", "name": "b"},
                    {"type": "string", "name": "s"},
                    {"type": "datetime", "name": "d"},
                    {"type": "array", "items": {"type": "double"}, "name": "arr"},
                ]
            ),
            "outputs": None,
            "params": None,
        }
    )

    assert signature is not None
    assert [(s.name, s.type, s.optional) for s in signature.inputs] == [
        ("n", "int64", False),
        ("f", "float32", True),
        ("b", "bool", False),
        ("s", "string", False),
        ("d", "datetime", False),
        ("arr", "object", False),
    ]
    assert signature_from_mlflow({"inputs": json.dumps([{"type": "double"}])}) is None
    assert signature_from_mlflow(None) is None
