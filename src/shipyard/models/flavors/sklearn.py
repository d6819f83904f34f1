"""scikit-learn estimators, stored with skops (no pickle).

skops refuses, at load time, every type it does not trust by default; it reports them
through ``get_untrusted_types``. Shipyard then trusts a type only when it comes from
scikit-learn, numpy or scipy (:data:`TRUSTED_ROOTS`) and is not one of the entry points
that read or write files or build code (:data:`DENIED`). Anything else — typically a class
from the user's own code — is refused with the list of offending types. Saving applies the
same rule, so a model that could not be loaded back is never written.
"""

from __future__ import annotations

import sys
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from shipyard.errors import InvalidArgument, PermissionDenied
from shipyard.models.flavors.base import Flavor, SavedFlavor, module_roots, no_params, qualified_name, require
from shipyard.models.requirements import installed_version

MODEL_FILE = "model.skops"
TRUSTED_ROOTS = frozenset({"sklearn", "numpy", "scipy"})
# Inside those packages: functions that touch files or generate code, which a
# FunctionTransformer could otherwise be made to call with request data.
DENIED = (
    "numpy.load",
    "numpy.loadtxt",
    "numpy.genfromtxt",
    "numpy.fromfile",
    "numpy.fromregex",
    "numpy.memmap",
    "numpy.save",
    "numpy.savez",
    "numpy.savez_compressed",
    "numpy.savetxt",
    "numpy.ctypeslib",
    "numpy.f2py",
    "numpy.distutils",
    "numpy.testing",
    "numpy.lib.npyio",
    "numpy.lib.format",
    "scipy.io",
    "scipy.datasets",
    "sklearn.datasets",
    "sklearn.utils._testing",
)
PREDICT_METHODS = frozenset({"predict", "predict_proba", "predict_log_proba", "decision_function", "transform"})


def refused_types(types: Iterable[str]) -> list[str]:
    """The types among ``types`` that the allow-list does not trust."""
    refused = []
    for name in types:
        root = name.split(".", 1)[0]
        denied = any(name == d or name.startswith(d + ".") for d in DENIED)
        if root not in TRUSTED_ROOTS or denied:
            refused.append(name)
    return sorted(refused)


def skops_io() -> ModuleType:
    """``skops.io``, imported without building skops' default list of trusted estimators.

    On import, skops trusts every scikit-learn estimator by default, which it lists with
    ``sklearn.utils.all_estimators()``: that imports every scikit-learn module (and pytest),
    about a second and 20 MB in a model server that needs one estimator. Shipyard never
    relies on that list: it asks skops which types a file holds beyond skops' defaults and
    trusts them by its own rule (:func:`refused_types`), which every scikit-learn type passes
    alike. So the list is left empty while skops is imported; skops then reports those
    estimators as untrusted too, and the allow-list decides, as it does for every other
    scikit-learn type. Trust is never widened: a narrower default list only makes skops
    report more types for the allow-list to check.
    """
    loaded = sys.modules.get("skops.io")
    if loaded is not None:
        return loaded
    try:
        import sklearn.utils
    except ImportError:
        return require("skops.io", "skops")
    original = sklearn.utils.all_estimators
    sklearn.utils.all_estimators = lambda *args, **kwargs: []
    try:
        return require("skops.io", "skops")
    finally:
        sklearn.utils.all_estimators = original


def load_skops(path: Path) -> Any:
    """Load a skops file, trusting only allow-listed types beyond skops' own defaults."""
    sio = skops_io()
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except (zipfile.BadZipFile, ValueError, KeyError, OSError) as exc:
        raise InvalidArgument(f"'{path.name}' is not a readable skops file: {exc}", {"path": path.name}) from exc
    if refused := refused_types(untrusted):
        raise PermissionDenied(
            f"'{path.name}' contains types outside the skops allow-list (sklearn, numpy, scipy): "
            f"{', '.join(refused)}; refusing to load them",
            {"path": path.name, "untrusted_types": refused},
        )
    return sio.load(path, trusted=list(untrusted))


def align_features(model: Any, data: Any) -> Any:
    """Give a model the input form it was fitted on: named columns or a bare array.

    An array goes in as a DataFrame when the model learnt feature names; a DataFrame goes in
    as an array when it did not (each mismatch makes scikit-learn warn)."""
    import numpy as np

    names = getattr(model, "feature_names_in_", None)
    if names is not None and isinstance(data, np.ndarray) and data.ndim == 2 and data.shape[1] == len(names):
        import pandas as pd

        return pd.DataFrame(data, columns=list(names))
    # Nothing is a DataFrame unless pandas is imported: a tensor model's server never needs it.
    pandas = sys.modules.get("pandas")
    if names is None and pandas is not None and isinstance(data, pandas.DataFrame) and hasattr(model, "n_features_in_"):
        return data.to_numpy()
    return data


class SklearnFlavor(Flavor):
    name = "sklearn"

    def matches(self, obj: Any) -> bool:
        return "sklearn" in module_roots(obj) and not isinstance(obj, type)

    def save(self, obj: Any, directory: Path) -> SavedFlavor:
        if not callable(getattr(obj, "predict", None)):
            raise InvalidArgument(f"{type(obj).__name__} has no predict() method", {"field": "model"})
        sio = skops_io()
        path = directory / MODEL_FILE
        try:
            sio.dump(obj, path)
        except (TypeError, ValueError, AttributeError) as exc:
            raise InvalidArgument(
                f"skops cannot serialise this {type(obj).__name__}: {exc}; "
                "save it with flavor='pyfunc' (pickle) if you trust its code",
                {"field": "model"},
            ) from exc
        if refused := refused_types(sio.get_untrusted_types(file=path)):
            raise InvalidArgument(
                f"the model contains types outside the skops allow-list (sklearn, numpy, scipy): "
                f"{', '.join(refused)}; it could not be loaded back safely. "
                "Save it with flavor='pyfunc' (pickle) if you trust its code",
                {"field": "model", "untrusted_types": refused},
            )
        info = {"estimator": qualified_name(obj), "sklearn_version": installed_version("scikit-learn")}
        return SavedFlavor(
            model_file=MODEL_FILE,
            serialization="skops",
            info=info,
            packages=["scikit-learn", "skops", "numpy", "scipy"],
        )

    def load(self, directory: Path, model_file: str, info: Mapping[str, Any], *, allow_pickle: bool) -> Any:
        return load_skops(directory / model_file)

    def predict(self, raw: Any, data: Any, info: Mapping[str, Any], params: Mapping[str, Any] | None) -> Any:
        no_params(self.name, params)
        method_name = str(info.get("predict_fn") or "predict")
        if method_name not in PREDICT_METHODS:
            raise InvalidArgument(f"predict_fn '{method_name}' is not one of {sorted(PREDICT_METHODS)}")
        return getattr(raw, method_name)(align_features(raw, data))
