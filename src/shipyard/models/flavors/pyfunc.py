"""Any Python object with a ``predict(data)`` method, pickled.

Pickle is the only general way to store arbitrary Python code and state, and loading a
pickle runs code, so these models are marked ``"serialization": "pickle"`` and
``"unsafe": true`` in the manifest and load only with ``allow_pickle=True``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidArgument
from shipyard.models import pickling
from shipyard.models.flavors.base import Flavor, SavedFlavor, qualified_name
from shipyard.models.requirements import installed_version

MODEL_FILE = "model.pkl"


def call_predict(predict: Any, args: tuple[Any, ...], params: Mapping[str, Any] | None) -> Any:
    """Call ``predict(*args)``, adding ``params=`` only when there are params to give."""
    if not params:
        return predict(*args)
    parameters: Mapping[str, inspect.Parameter]
    try:
        parameters = inspect.signature(predict).parameters
    except (TypeError, ValueError):
        parameters = {}
    accepts = "params" in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    if not accepts:
        raise InvalidArgument("this model's predict() takes no params", {"field": "params"})
    return predict(*args, params=dict(params))


class PyfuncFlavor(Flavor):
    name = "pyfunc"

    def matches(self, obj: Any) -> bool:
        return not isinstance(obj, type) and callable(getattr(obj, "predict", None))

    def save(self, obj: Any, directory: Path) -> SavedFlavor:
        if not self.matches(obj):
            raise InvalidArgument(f"{type(obj).__name__} has no predict() method", {"field": "model"})
        pickler = pickling.dump(obj, directory / MODEL_FILE)
        info: dict[str, Any] = {"python_class": qualified_name(obj), "pickler": pickler}
        if pickler == "cloudpickle":
            info["cloudpickle_version"] = installed_version("cloudpickle")
        return SavedFlavor(
            model_file=MODEL_FILE,
            serialization="pickle",
            unsafe=True,
            info=info,
            packages=["cloudpickle"] if pickler == "cloudpickle" else [],
        )

    def load(self, directory: Path, model_file: str, info: Mapping[str, Any], *, allow_pickle: bool) -> Any:
        pickler = str(info.get("pickler", "pickle"))
        return pickling.unpickle(directory / model_file, pickler=pickler, allow_pickle=allow_pickle)

    def predict(self, raw: Any, data: Any, info: Mapping[str, Any], params: Mapping[str, Any] | None) -> Any:
        return call_predict(raw.predict, (data,), params)
