"""The flavor registry: one :class:`Flavor` per kind of model, found by name or by object.

Detection tries the flavors in :data:`FLAVORS` order. XGBoost and LightGBM estimators
are also scikit-learn estimators, so they come before ``sklearn``; ``pyfunc`` (anything
with ``predict``) comes last.
"""

from __future__ import annotations

from typing import Any

from shipyard.errors import InvalidArgument
from shipyard.models.flavors.base import Flavor, SavedFlavor
from shipyard.models.flavors.lightgbm import LightGBMFlavor
from shipyard.models.flavors.onnx import ONNXFlavor
from shipyard.models.flavors.pyfunc import PyfuncFlavor
from shipyard.models.flavors.sklearn import SklearnFlavor
from shipyard.models.flavors.xgboost import XGBoostFlavor

FLAVORS: dict[str, Flavor] = {
    flavor.name: flavor for flavor in (XGBoostFlavor(), LightGBMFlavor(), ONNXFlavor(), SklearnFlavor(), PyfuncFlavor())
}


def get_flavor(name: str) -> Flavor:
    try:
        return FLAVORS[name]
    except KeyError:
        raise InvalidArgument(
            f"unknown flavor '{name}'; known flavors: {', '.join(sorted(FLAVORS))}", {"field": "flavor"}
        ) from None


def detect_flavor(model: Any) -> str:
    """The name of the flavor that saves ``model``."""
    for flavor in FLAVORS.values():
        if flavor.matches(model):
            return flavor.name
    raise InvalidArgument(
        f"cannot tell the flavor of a {type(model).__name__}: pass flavor= one of "
        f"{', '.join(sorted(FLAVORS))}, or give it a predict() method",
        {"field": "flavor"},
    )


__all__ = ["FLAVORS", "Flavor", "SavedFlavor", "detect_flavor", "get_flavor"]
