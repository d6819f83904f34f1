"""LightGBM boosters and scikit-learn-style estimators, in LightGBM's own text format.

LightGBM can only read a booster back, not its scikit-learn wrapper, so ``raw`` is always
a ``lightgbm.Booster``. For a classifier the manifest keeps the class labels and
:meth:`LightGBMFlavor.predict` turns probabilities into labels exactly as
``LGBMClassifier.predict`` does (argmax; for two classes, probability above 0.5).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidArgument, ValidationFailed
from shipyard.models.flavors.base import Flavor, SavedFlavor, module_roots, no_params, require
from shipyard.models.requirements import installed_version

MODEL_FILE = "model.txt"
ESTIMATORS = ("LGBMClassifier", "LGBMRegressor", "LGBMRanker")


def _in_training_order(frame: Any, names: list[str]) -> Any:
    """The frame's columns in the order the booster was trained on, matched by name.

    LightGBM stores names with whitespace turned into underscores. A booster trained on
    an array (names ``Column_0``, …) takes any frame by position."""
    if all(name == f"Column_{i}" for i, name in enumerate(names)):
        return frame
    by_stored_name = {re.sub(r"\s", "_", str(column)): column for column in frame.columns}
    if missing := [name for name in names if name not in by_stored_name]:
        raise ValidationFailed(f"input is missing feature '{missing[0]}'", {"field": missing[0], "problem": "missing"})
    return frame[[by_stored_name[name] for name in names]]


class LightGBMFlavor(Flavor):
    name = "lightgbm"

    def matches(self, obj: Any) -> bool:
        if "lightgbm" not in module_roots(obj):
            return False
        lgb = require("lightgbm", "lightgbm")
        return isinstance(obj, lgb.Booster | lgb.LGBMModel)

    def save(self, obj: Any, directory: Path) -> SavedFlavor:
        lgb = require("lightgbm", "lightgbm")
        info: dict[str, Any] = {"lightgbm_version": installed_version("lightgbm")}
        if isinstance(obj, lgb.Booster):
            booster = obj
            info["model_class"] = "Booster"
        elif isinstance(obj, lgb.LGBMModel):
            model_class = next((c.__name__ for c in type(obj).__mro__ if c.__name__ in ESTIMATORS), "")
            if not model_class:
                raise InvalidArgument(f"{type(obj).__name__} is not one of {', '.join(ESTIMATORS)}", {"field": "model"})
            booster = obj.booster_
            info["model_class"] = model_class
            if model_class == "LGBMClassifier":
                info["classes"] = obj.classes_.tolist()
        else:
            raise InvalidArgument(f"{type(obj).__name__} is not a LightGBM model", {"field": "model"})
        booster.save_model(str(directory / MODEL_FILE))
        info["feature_names"] = booster.feature_name()
        return SavedFlavor(
            model_file=MODEL_FILE, serialization="lightgbm-text", info=info, packages=["lightgbm", "numpy"]
        )

    def load(self, directory: Path, model_file: str, info: Mapping[str, Any], *, allow_pickle: bool) -> Any:
        lgb = require("lightgbm", "lightgbm")
        return lgb.Booster(model_file=str(directory / model_file))

    def predict(self, raw: Any, data: Any, info: Mapping[str, Any], params: Mapping[str, Any] | None) -> Any:
        no_params(self.name, params)
        import numpy as np
        import pandas as pd

        if isinstance(data, pd.DataFrame):
            data = _in_training_order(data, info.get("feature_names") or [])
        scores = raw.predict(data)
        classes = info.get("classes")
        if info.get("model_class") != "LGBMClassifier" or classes is None:
            return scores
        index = (scores > 0.5).astype(int) if scores.ndim == 1 else np.argmax(scores, axis=1)
        return np.asarray(classes)[index]
