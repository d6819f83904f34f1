"""XGBoost boosters and scikit-learn-style estimators, in XGBoost's own JSON format."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidArgument
from shipyard.models.flavors.base import Flavor, SavedFlavor, module_roots, no_params, require
from shipyard.models.requirements import installed_version

MODEL_FILE = "model.json"
# The estimator classes that load_model can rebuild; a subclass is saved as its base.
ESTIMATORS = ("XGBClassifier", "XGBRegressor", "XGBRanker", "XGBRFClassifier", "XGBRFRegressor")


def _with_feature_names(data: Any, names: list[str] | None) -> Any:
    import numpy as np
    import pandas as pd

    if names and isinstance(data, np.ndarray) and data.ndim == 2 and data.shape[1] == len(names):
        return pd.DataFrame(data, columns=names)
    return data


class XGBoostFlavor(Flavor):
    name = "xgboost"

    def matches(self, obj: Any) -> bool:
        if "xgboost" not in module_roots(obj):
            return False
        xgb = require("xgboost", "xgboost")
        return isinstance(obj, xgb.Booster | xgb.XGBModel)

    def save(self, obj: Any, directory: Path) -> SavedFlavor:
        xgb = require("xgboost", "xgboost")
        if isinstance(obj, xgb.Booster):
            model_class = "Booster"
            booster = obj
        elif isinstance(obj, xgb.XGBModel):
            model_class = next((c.__name__ for c in type(obj).__mro__ if c.__name__ in ESTIMATORS), "")
            if not model_class:
                raise InvalidArgument(f"{type(obj).__name__} is not one of {', '.join(ESTIMATORS)}", {"field": "model"})
            booster = obj.get_booster()
        else:
            raise InvalidArgument(f"{type(obj).__name__} is not an XGBoost model", {"field": "model"})
        obj.save_model(str(directory / MODEL_FILE))
        info = {
            "model_class": model_class,
            "feature_names": booster.feature_names,
            "xgboost_version": installed_version("xgboost"),
        }
        packages = ["xgboost", "numpy"] + (["scikit-learn"] if model_class != "Booster" else [])
        return SavedFlavor(model_file=MODEL_FILE, serialization="xgboost-json", info=info, packages=packages)

    def load(self, directory: Path, model_file: str, info: Mapping[str, Any], *, allow_pickle: bool) -> Any:
        xgb = require("xgboost", "xgboost")
        model_class = info.get("model_class", "Booster")
        path = str(directory / model_file)
        if model_class == "Booster":
            return xgb.Booster(model_file=path)
        if model_class not in ESTIMATORS:
            raise InvalidArgument(f"unknown XGBoost model_class '{model_class}'", {"field": "flavor_info"})
        model = getattr(xgb, model_class)()
        model.load_model(path)
        return model

    def predict(self, raw: Any, data: Any, info: Mapping[str, Any], params: Mapping[str, Any] | None) -> Any:
        no_params(self.name, params)
        xgb = require("xgboost", "xgboost")
        if isinstance(raw, xgb.Booster):
            return raw.predict(xgb.DMatrix(_with_feature_names(data, raw.feature_names)))
        return raw.predict(_with_feature_names(data, raw.get_booster().feature_names))
