"""Custom Python models: anything with predict(), pickled, loaded only when pickles are allowed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shipyard.errors import InvalidArgument, PermissionDenied, ValidationFailed
from shipyard.models import MANIFEST_FILE, ModelSignature, ParamSpec, detect_flavor, load_model, save_model
from shipyard.models.signature import ColumnSpec
from tests.models.conftest import Dataset


class PetalRule:
    """A hand-written classifier: setosa when petals are short."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def predict(self, data: pd.DataFrame) -> np.ndarray:
        return np.where(data["petal length (cm)"] < self.threshold, 0, 1)


class Scaler:
    """Multiplies its input; the factor can be overridden per call."""

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> np.ndarray:
        factor = (params or {}).get("factor", 1.0)
        return np.asarray(data) * factor


def test_round_trip(tmp_path: Path, iris: Dataset) -> None:
    model = PetalRule(2.5)
    manifest = save_model(model, tmp_path / "m", input_example=iris.X.head(3))

    assert detect_flavor(model) == "pyfunc"
    assert manifest.flavor == "pyfunc"
    assert manifest.flavor_info["python_class"] == "tests.models.test_pyfunc.PetalRule"
    loaded = load_model(tmp_path / "m")
    assert isinstance(loaded.raw, PetalRule)
    np.testing.assert_array_equal(loaded.predict(iris.X), model.predict(iris.X))


def test_manifest_marks_the_pickle_unsafe(tmp_path: Path) -> None:
    save_model(PetalRule(2.5), tmp_path / "m")

    on_disk = json.loads((tmp_path / "m" / MANIFEST_FILE).read_text())

    assert on_disk["serialization"] == "pickle"
    assert on_disk["unsafe"] is True
    assert on_disk["flavor_info"]["pickler"] == "cloudpickle"
    assert any(r.startswith("cloudpickle==") for r in on_disk["requirements"])


def test_allow_pickle_false_refuses(tmp_path: Path) -> None:
    save_model(PetalRule(2.5), tmp_path / "m")

    with pytest.raises(PermissionDenied, match="allow_pickle=True") as caught:
        load_model(tmp_path / "m", allow_pickle=False)

    assert caught.value.details == {"path": "model.pkl", "serialization": "pickle"}


def test_params_reach_the_model_with_defaults(tmp_path: Path) -> None:
    signature = ModelSignature(
        inputs=[ColumnSpec(name="x", type="float64")], params=[ParamSpec(name="factor", type="float64", default=2.0)]
    )
    save_model(Scaler(), tmp_path / "m", signature=signature)
    loaded = load_model(tmp_path / "m")
    frame = pd.DataFrame({"x": [1.0, 2.0]})

    np.testing.assert_array_equal(loaded.predict(frame).ravel(), [2.0, 4.0])
    np.testing.assert_array_equal(loaded.predict(frame, params={"factor": 10.0}).ravel(), [10.0, 20.0])
    with pytest.raises(InvalidArgument, match="unknown param 'speed'"):
        loaded.predict(frame, params={"speed": 1})


def test_params_refused_by_a_model_that_takes_none(tmp_path: Path, iris: Dataset) -> None:
    save_model(PetalRule(2.5), tmp_path / "m")

    with pytest.raises(InvalidArgument, match="takes no params"):
        load_model(tmp_path / "m").predict(iris.X, params={"factor": 1})


def test_model_errors_on_bad_input_are_validation_failures(tmp_path: Path) -> None:
    save_model(PetalRule(2.5), tmp_path / "m")

    with pytest.raises(ValidationFailed, match="rejected its input"):
        load_model(tmp_path / "m").predict(pd.DataFrame({"other": [1.0]}))


def test_objects_without_predict_have_no_flavor(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="cannot tell the flavor"):
        save_model(object(), tmp_path / "m")
    with pytest.raises(InvalidArgument, match="unknown flavor 'torch'"):
        save_model(PetalRule(1.0), tmp_path / "m", flavor="torch")


def test_unpicklable_model_is_an_invalid_argument(tmp_path: Path) -> None:
    model = PetalRule(1.0)
    model.threshold = (x for x in [1.0])  # type: ignore[assignment]  # generators cannot be pickled

    with pytest.raises(InvalidArgument, match="could not pickle"):
        save_model(model, tmp_path / "m")
    assert list(tmp_path.iterdir()) == []
