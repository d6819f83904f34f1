from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from sklearn.ensemble import RandomForestRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.tree import DecisionTreeClassifier

from shipyard.errors import InvalidArgument, PermissionDenied
from shipyard.models import detect_flavor, load_model, save_model
from shipyard.models.flavors.sklearn import refused_types
from shipyard.models.manifest import MANIFEST_FILE
from tests.models.conftest import Dataset


class HomeMadeScaler(StandardScaler):  # type: ignore[misc]  # sklearn ships no types
    """A class from user code: skops cannot vouch for it."""


def test_pipeline_round_trip_on_a_dataframe(tmp_path: Path, iris: Dataset, iris_pipeline) -> None:
    manifest = save_model(iris_pipeline, tmp_path / "m", input_example=iris.X.head(5))

    assert manifest.flavor == "sklearn"
    assert manifest.serialization == "skops"
    assert manifest.unsafe is False
    assert manifest.model_file == "model.skops"
    assert manifest.flavor_info["estimator"] == "sklearn.pipeline.Pipeline"
    loaded = load_model(tmp_path / "m", allow_pickle=False)
    assert type(loaded.raw) is type(iris_pipeline)
    np.testing.assert_array_equal(loaded.predict(iris.X), iris_pipeline.predict(iris.X))


def test_model_fitted_with_names_accepts_arrays_and_records(tmp_path: Path, iris: Dataset, iris_pipeline) -> None:
    save_model(iris_pipeline, tmp_path / "m", signature=None)
    loaded = load_model(tmp_path / "m")
    expected = iris_pipeline.predict(iris.X)

    # No "X does not have valid feature names" warning (warnings are errors here).
    np.testing.assert_array_equal(loaded.predict(iris.array), expected)
    np.testing.assert_array_equal(loaded.predict(iris.X.to_dict("records")), expected)


def test_forest_regressor_round_trip_on_arrays(tmp_path: Path, diabetes: Dataset) -> None:
    forest = RandomForestRegressor(n_estimators=3, max_depth=4, random_state=0).fit(diabetes.array, diabetes.y)
    save_model(forest, tmp_path / "m", input_example=diabetes.array[:4])

    loaded = load_model(tmp_path / "m")  # sklearn.tree._tree.Tree: trusted by the allow-list

    np.testing.assert_array_equal(loaded.predict(diabetes.array), forest.predict(diabetes.array))
    assert loaded.signature is not None
    assert loaded.signature.outputs is not None
    assert loaded.signature.outputs[0].type == "float64"


def test_numpy_function_transformer_is_trusted(tmp_path: Path, iris: Dataset) -> None:
    model = make_pipeline(FunctionTransformer(np.log1p), DecisionTreeClassifier(random_state=0)).fit(iris.array, iris.y)
    save_model(model, tmp_path / "m")

    np.testing.assert_array_equal(load_model(tmp_path / "m").predict(iris.array), model.predict(iris.array))


def test_detects_sklearn() -> None:
    assert detect_flavor(DecisionTreeClassifier()) == "sklearn"


def test_saving_a_user_class_is_refused_and_leaves_nothing(tmp_path: Path, iris: Dataset) -> None:
    model = make_pipeline(HomeMadeScaler(), DecisionTreeClassifier()).fit(iris.array, iris.y)

    with pytest.raises(InvalidArgument, match="HomeMadeScaler") as caught:
        save_model(model, tmp_path / "m")

    assert "flavor='pyfunc'" in caught.value.message
    assert any(t.endswith("HomeMadeScaler") for t in caught.value.details["untrusted_types"])
    assert list(tmp_path.iterdir()) == []


def test_loading_a_skops_file_with_a_user_class_is_refused(tmp_path: Path, iris: Dataset, iris_pipeline) -> None:
    save_model(iris_pipeline, tmp_path / "m")
    rogue = make_pipeline(HomeMadeScaler(), DecisionTreeClassifier()).fit(iris.array, iris.y)
    sio.dump(rogue, tmp_path / "m" / "model.skops")

    with pytest.raises(PermissionDenied, match="HomeMadeScaler") as caught:
        load_model(tmp_path / "m", verify=False)

    assert caught.value.details["untrusted_types"] == ["tests.models.test_sklearn.HomeMadeScaler"]


def test_allow_list() -> None:
    assert refused_types(["sklearn.tree._tree.Tree", "numpy.dtype", "scipy.sparse._csr.csr_matrix"]) == []
    outsiders = ["os.system", "builtins.eval", "numpyx.thing"]
    assert refused_types(outsiders) == sorted(outsiders)
    assert refused_types(["numpy.load", "numpy.lib.npyio.NpzFile", "sklearn.datasets.fetch_openml"]) == [
        "numpy.lib.npyio.NpzFile",
        "numpy.load",
        "sklearn.datasets.fetch_openml",
    ]
    assert refused_types(["numpy.loadtxt"]) == ["numpy.loadtxt"]


def test_an_estimator_without_predict_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="no predict"):
        save_model(StandardScaler(), tmp_path / "m")


def test_manifest_file_is_written(tmp_path: Path, iris_pipeline) -> None:
    save_model(iris_pipeline, tmp_path / "m")

    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == sorted([MANIFEST_FILE, "model.skops"])
