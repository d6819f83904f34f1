"""XGBoost and LightGBM, as scikit-learn-style estimators and as bare boosters."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import xgboost as xgb

from shipyard.models import detect_flavor, load_model, save_model
from tests.models.conftest import Dataset


def test_xgboost_classifier_round_trip(tmp_path: Path, breast_cancer: Dataset) -> None:
    model = xgb.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1).fit(breast_cancer.X, breast_cancer.y)
    manifest = save_model(model, tmp_path / "m", input_example=breast_cancer.X.head(3))

    assert detect_flavor(model) == "xgboost"
    assert (manifest.serialization, manifest.model_file) == ("xgboost-json", "model.json")
    assert manifest.flavor_info["model_class"] == "XGBClassifier"
    loaded = load_model(tmp_path / "m", allow_pickle=False)
    assert isinstance(loaded.raw, xgb.XGBClassifier)
    np.testing.assert_array_equal(loaded.predict(breast_cancer.X), model.predict(breast_cancer.X))
    # An array gets the feature names the model was trained with.
    np.testing.assert_array_equal(loaded.predict(breast_cancer.array), model.predict(breast_cancer.X))


def test_xgboost_booster_round_trip(tmp_path: Path, diabetes: Dataset) -> None:
    booster = xgb.train({"max_depth": 2, "nthread": 1}, xgb.DMatrix(diabetes.array, label=diabetes.y), 4)
    save_model(booster, tmp_path / "m", input_example=diabetes.array[:3])

    loaded = load_model(tmp_path / "m")

    assert loaded.manifest.flavor_info["model_class"] == "Booster"
    np.testing.assert_array_equal(loaded.predict(diabetes.array), booster.predict(xgb.DMatrix(diabetes.array)))
    assert loaded.signature is not None
    assert loaded.signature.outputs is not None
    assert loaded.signature.outputs[0].type == "float32"


def test_lightgbm_multiclass_classifier_round_trip(tmp_path: Path, iris: Dataset) -> None:
    model = lgb.LGBMClassifier(n_estimators=5, num_leaves=4, verbose=-1, n_jobs=1).fit(iris.X, iris.y)
    manifest = save_model(model, tmp_path / "m", input_example=iris.X.head(3))

    assert detect_flavor(model) == "lightgbm"
    assert (manifest.serialization, manifest.model_file) == ("lightgbm-text", "model.txt")
    assert manifest.flavor_info["classes"] == [0, 1, 2]
    loaded = load_model(tmp_path / "m", allow_pickle=False)
    assert isinstance(loaded.raw, lgb.Booster)
    np.testing.assert_array_equal(loaded.predict(iris.X), model.predict(iris.X))


def test_lightgbm_binary_classifier_with_string_labels(tmp_path: Path, breast_cancer: Dataset) -> None:
    labels = np.where(breast_cancer.y == 1, "benign", "malignant")
    model = lgb.LGBMClassifier(n_estimators=5, num_leaves=4, verbose=-1, n_jobs=1).fit(breast_cancer.X, labels)
    save_model(model, tmp_path / "m")

    predicted = load_model(tmp_path / "m").predict(breast_cancer.X)

    np.testing.assert_array_equal(predicted, model.predict(breast_cancer.X))
    assert set(predicted) == {"benign", "malignant"}


def test_lightgbm_booster_round_trip(tmp_path: Path, diabetes: Dataset) -> None:
    params = {"objective": "regression", "num_leaves": 4, "verbose": -1, "num_threads": 1}
    booster = lgb.train(params, lgb.Dataset(diabetes.array, label=diabetes.y), num_boost_round=5)
    save_model(booster, tmp_path / "m")

    loaded = load_model(tmp_path / "m")

    np.testing.assert_allclose(loaded.predict(diabetes.array), booster.predict(diabetes.array))
    # Trained on an array: a DataFrame with other column names is taken by position.
    np.testing.assert_allclose(loaded.predict(diabetes.X), booster.predict(diabetes.array))
