"""Class probabilities for the models that have them.

``LoadedModel.predict`` runs a model's ``predict`` only, so the data plane asks the native
object itself: ``predict_proba`` of a scikit-learn, XGBoost or custom (pyfunc) estimator;
a LightGBM classifier's booster (which returns probabilities; a binary one gives the
positive class only, widened to two columns here); an ONNX graph's ``probabilities``
output. The input passes the signature exactly as for ``predict``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shipyard.errors import InvalidArgument, ValidationFailed
from shipyard.models import LoadedModel
from shipyard.models.flavors.sklearn import align_features
from shipyard.models.validation import normalise_output, prepare_input
from shipyard.serving.outputs import PROBABILITIES, named_outputs


def _onnx_output(model: LoadedModel) -> str | None:
    names = [str(n) for n in model.manifest.flavor_info.get("outputs") or []]
    return next((n for n in names if "prob" in n.lower()), None)


def supports_proba(model: LoadedModel) -> bool:
    if model.flavor == "lightgbm":
        return model.manifest.flavor_info.get("model_class") == "LGBMClassifier"
    if model.flavor == "onnx":
        return _onnx_output(model) is not None
    return callable(getattr(model.raw, "predict_proba", None))


def predict_proba(model: LoadedModel, data: Any) -> np.ndarray[Any, Any]:
    """An ``(n, classes)`` array of probabilities for ``data``."""
    if not supports_proba(model):
        raise InvalidArgument(
            f"this {model.flavor} model has no predict_proba; use method 'predict'", {"field": "method"}
        )
    if model.flavor == "onnx":
        wanted = _onnx_output(model)
        outputs = dict(named_outputs(model.predict(data), PROBABILITIES))
        return np.asarray(outputs.get(str(wanted), outputs.get(PROBABILITIES)))
    prepared = prepare_input(data, model.signature)
    try:
        if model.flavor == "lightgbm":
            scores = np.asarray(model.raw.predict(prepared))
            return np.column_stack([1 - scores, scores]) if scores.ndim == 1 else scores
        result = model.raw.predict_proba(align_features(model.raw, prepared))
    except (ValueError, TypeError, KeyError) as exc:
        raise ValidationFailed(f"the {model.flavor} model rejected its input: {exc}", {"field": "data"}) from exc
    return np.asarray(normalise_output(result))


__all__ = ["predict_proba", "supports_proba"]
