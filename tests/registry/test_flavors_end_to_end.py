"""Every flavor through the whole road: sy.log_model under a run, register, load the
version back by URI (files downloaded and verified), same predictions."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import shipyard as sy
from shipyard import fluent, sdk
from shipyard.client import Client
from shipyard.errors import PermissionDenied
from shipyard.settings import Settings


class Threshold:
    """A custom model (pyfunc flavor): anything with predict()."""

    def __init__(self, cut: float) -> None:
        self.cut = cut

    def predict(self, data: Any) -> Any:
        return (np.asarray(data)[:, 0] > self.cut).astype(np.int64)


def _xgboost(x: np.ndarray, y: np.ndarray) -> Any:
    import xgboost as xgb

    return xgb.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1).fit(x, y)


def _lightgbm(x: np.ndarray, y: np.ndarray) -> Any:
    import lightgbm as lgb

    return lgb.LGBMClassifier(n_estimators=5, num_leaves=4, verbose=-1).fit(x, y)


def _onnx(x: np.ndarray, y: np.ndarray) -> Any:
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=500).fit(x, y)
    return to_onnx(model, x[:1], options={id(model): {"zipmap": False}})


def _pyfunc(x: np.ndarray, y: np.ndarray) -> Any:
    return Threshold(float(np.median(x[:, 0])))


BUILDERS: dict[str, Callable[[np.ndarray, np.ndarray], Any]] = {
    "xgboost": _xgboost,
    "lightgbm": _lightgbm,
    "onnx": _onnx,
    "pyfunc": _pyfunc,
}


def _labels(prediction: Any) -> np.ndarray:
    """Predicted classes (an ONNX classifier returns label and probabilities columns)."""
    if hasattr(prediction, "columns"):
        return np.asarray(prediction["label"])
    return np.asarray(prediction)


@pytest.fixture
def connected(settings: Settings) -> Iterator[Client]:
    fluent._reset_for_tests()
    client = sy.connect(settings=settings)
    yield client
    fluent._reset_for_tests()
    sdk._close()


@pytest.mark.parametrize("flavor", sorted(BUILDERS))
def test_flavor_round_trip_through_the_registry(connected: Client, flavor: str) -> None:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    x = data.data[:, :8].astype(np.float32)
    y = data.target
    model = BUILDERS[flavor](x, y)
    with sy.start_run(name=flavor, capture_source=False):
        logged = sy.log_model(model, "model", input_example=x[:3], registered_model_name=f"clf-{flavor}")
    assert logged.flavor == flavor
    assert logged.version is not None
    assert logged.version.status == "READY"
    loaded = sy.load_model(f"models:/clf-{flavor}/1")
    reference = sy.load_model(logged.uri)
    got, want = _labels(loaded.predict(x[:50])), _labels(reference.predict(x[:50]))
    assert got.shape == (50,)
    assert np.array_equal(got, want)
    if flavor == "pyfunc":
        assert loaded.manifest.unsafe is True
        with pytest.raises(PermissionDenied):
            sy.load_model(f"models:/clf-{flavor}/1", allow_pickle=False)
    else:
        assert loaded.manifest.unsafe is False
        sy.load_model(f"models:/clf-{flavor}/1", allow_pickle=False)
