"""MLflow model directories (an ``MLmodel`` YAML file at the root), read without mlflow.

Supported, as MLflow lays them out::

    MLmodel                   flavors: sklearn (pickled_model, serialization_format
                              pickle | cloudpickle | skops) and/or python_function
                              (loader_module mlflow.sklearn + model_path, or
                              loader_module mlflow.pyfunc.model + python_model)
    model.pkl | model.skops   the scikit-learn model
    python_model.pkl[.xz|.bz2|.gz]  a cloudpickled ``PythonModel``; ``artifacts/`` beside it
    input_example.json, requirements.txt, conda.yaml, python_env.yaml

The MLmodel becomes a :class:`ModelManifest` (``source_format="mlflow"``) with digests
computed on reading, since MLflow records none. Pickles load only with ``allow_pickle``;
skops files go through Shipyard's own allow-list, never through the MLmodel's
``skops_trusted_types`` (a file cannot vouch for itself). A ``PythonModel`` subclass
pickled by reference to ``mlflow.pyfunc`` needs mlflow installed and is refused with a
:class:`PreconditionFailed` naming the module otherwise.

Signatures: MLflow column specs (``{"type": "double", "name": "x", "required": true}``)
become :class:`ColumnSpec` (``double`` → ``float64``, ``long`` → ``int64``, ``integer`` →
``int32``, ``float`` → ``float32``, ``boolean`` → ``bool``, ``binary`` → ``bytes``;
``required: false`` → ``optional``; array/object/map columns → ``object``); tensor specs
(``{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 4]}}``) become
:class:`TensorSpec`. A part that cannot be mapped (unnamed columns) is left out; the
original is kept in ``flavor_info["mlflow"]["signature"]``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidArgument, ValidationFailed
from shipyard.models.files import digest_files
from shipyard.models.flavors import get_flavor
from shipyard.models.flavors.base import require
from shipyard.models.flavors.pyfunc import call_predict
from shipyard.models.flavors.sklearn import load_skops
from shipyard.models.loaded import Predictor
from shipyard.models.manifest import MLMODEL_FILE, InputExampleRef, ModelManifest, check_relative_path
from shipyard.models.pickling import unpickle
from shipyard.models.signature import ColumnSpec, ModelSignature, ParamSpec, TensorSpec, value_type

PYFUNC = "python_function"
SKLEARN_LOADER = "mlflow.sklearn"
PYTHON_MODEL_LOADER = "mlflow.pyfunc.model"
_COLUMN_TYPES = {
    "boolean": "bool",
    "integer": "int32",
    "long": "int64",
    "float": "float32",
    "double": "float64",
    "string": "string",
    "binary": "bytes",
    "datetime": "datetime",
}


class _Unmapped(ValueError):
    """A signature part with no Shipyard equivalent."""


def read_mlmodel(directory: Path) -> dict[str, Any]:
    yaml = require("yaml", "pyyaml")
    try:
        doc = yaml.safe_load((directory / MLMODEL_FILE).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValidationFailed(f"MLmodel is not valid YAML: {exc}", {"path": MLMODEL_FILE}) from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("flavors"), dict):
        raise ValidationFailed("MLmodel has no 'flavors' mapping", {"path": MLMODEL_FILE})
    return doc


# --- signatures ---------------------------------------------------------------------


def _column(spec: Mapping[str, Any]) -> ColumnSpec:
    name = spec.get("name")
    if not name:
        raise _Unmapped("unnamed column")
    kind = spec.get("type")
    if kind in _COLUMN_TYPES:
        value, shape = _COLUMN_TYPES[kind], None
    elif kind in ("array", "object", "map", "any"):
        value, shape = "object", ([-1] if kind == "array" else None)
    else:
        raise _Unmapped(f"column type {kind!r}")
    return ColumnSpec(name=str(name), type=value, shape=shape, optional=not spec.get("required", True))


def _tensor(spec: Mapping[str, Any]) -> TensorSpec:
    import numpy as np

    info = spec.get("tensor-spec") or {}
    try:
        dtype = value_type(np.dtype(info["dtype"]))
    except (KeyError, TypeError) as exc:
        raise _Unmapped(f"tensor dtype {info.get('dtype')!r}") from exc
    shape = [int(d) for d in info.get("shape") or []]
    return TensorSpec(name=spec.get("name"), type=dtype, shape=shape)


def _specs(text: Any) -> list[ColumnSpec | TensorSpec]:
    items = json.loads(text) if isinstance(text, str) else text
    if not isinstance(items, list) or not items:
        raise _Unmapped("not a list of specs")
    return [_tensor(item) if item.get("type") == "tensor" else _column(item) for item in items]


def _params(text: Any) -> list[ParamSpec]:
    items = json.loads(text) if isinstance(text, str) else text
    return [
        ParamSpec(
            name=str(item["name"]),
            type=_COLUMN_TYPES.get(item.get("type"), "object"),
            default=item.get("default"),
            shape=list(item["shape"]) if item.get("shape") else None,
        )
        for item in items
    ]


def _part(convert: Any, raw: Any) -> Any:
    if not raw:
        return None
    try:
        return convert(raw)
    except (_Unmapped, ValueError, TypeError, KeyError, AttributeError):
        return None


def signature_from_mlflow(raw: Any) -> ModelSignature | None:
    """Our signature for an MLmodel ``signature`` block (inputs/outputs/params as JSON strings)."""
    if not isinstance(raw, Mapping):
        return None
    inputs = _part(_specs, raw.get("inputs"))
    if inputs is None:
        return None
    try:
        return ModelSignature(
            inputs=inputs, outputs=_part(_specs, raw.get("outputs")), params=_part(_params, raw.get("params"))
        )
    except ValueError:
        return None


# --- manifest -----------------------------------------------------------------------


def _created_at(doc: Mapping[str, Any], directory: Path) -> datetime:
    value = doc.get("utc_time_created")
    try:
        stamp = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return datetime.fromtimestamp((directory / MLMODEL_FILE).stat().st_mtime, UTC)
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def _requirements(directory: Path) -> list[str]:
    path = directory / "requirements.txt"
    if not path.is_file():
        return []
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("-")]


def _example(doc: Mapping[str, Any]) -> InputExampleRef | None:
    info = doc.get("saved_input_example_info")
    if not isinstance(info, Mapping) or info.get("type") not in ("dataframe", "ndarray"):
        return None
    if info["type"] == "dataframe" and info.get("pandas_orient", "split") != "split":
        return None
    return InputExampleRef(
        path=str(info.get("artifact_path", "input_example.json")), type=info["type"], format="mlflow"
    )


def _artifacts(conf: Any) -> dict[str, str]:
    """``{name: relative path}`` of a python_model's artifacts, each inside the directory."""
    try:
        return {str(name): check_relative_path(str(entry["path"])) for name, entry in conf.items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValidationFailed(f"MLmodel lists an unusable artifact: {exc}", {"path": MLMODEL_FILE}) from exc


def _artifacts_of(info: Mapping[str, Any]) -> dict[str, str]:
    return _artifacts({name: {"path": rel} for name, rel in (info.get("artifacts") or {}).items()})


def _unsupported(flavors: Mapping[str, Any]) -> InvalidArgument:
    loader = (flavors.get(PYFUNC) or {}).get("loader_module")
    return InvalidArgument(
        f"unsupported MLflow model (flavors {sorted(flavors)}, loader_module {loader!r}); Shipyard loads the "
        f"sklearn flavor and python_function with loader_module {SKLEARN_LOADER} or {PYTHON_MODEL_LOADER}",
        {"flavors": sorted(flavors), "loader_module": loader},
    )


def mlflow_manifest(directory: Path) -> ModelManifest:
    """A manifest describing an MLflow model directory, with digests of its files as they are now."""
    doc = read_mlmodel(directory)
    flavors: dict[str, Any] = doc["flavors"]
    pyfunc_conf = flavors.get(PYFUNC) or {}
    sklearn_conf = flavors.get("sklearn")
    loader = pyfunc_conf.get("loader_module")
    info: dict[str, Any] = {}
    if isinstance(sklearn_conf, Mapping) or loader == SKLEARN_LOADER:
        sklearn_conf = sklearn_conf if isinstance(sklearn_conf, Mapping) else {}
        flavor = "sklearn"
        model_file = sklearn_conf.get("pickled_model") or pyfunc_conf.get("model_path") or pyfunc_conf.get("data")
        fmt = str(sklearn_conf.get("serialization_format", "pickle"))
        info["sklearn_version"] = sklearn_conf.get("sklearn_version")
        if pyfunc_conf.get("predict_fn"):
            info["predict_fn"] = pyfunc_conf["predict_fn"]
    elif loader == PYTHON_MODEL_LOADER:
        flavor = "pyfunc"
        model_file = pyfunc_conf.get("python_model")
        fmt = "cloudpickle"
        info["artifacts"] = _artifacts(pyfunc_conf.get("artifacts") or {})
        info["model_config"] = pyfunc_conf.get("model_config") or {}
    else:
        raise _unsupported(flavors)
    if not model_file:
        raise ValidationFailed("MLmodel does not name the model file", {"path": MLMODEL_FILE})
    if fmt not in ("pickle", "cloudpickle", "skops"):
        raise InvalidArgument(f"unknown MLflow serialization_format '{fmt}'", {"serialization_format": fmt})
    if fmt != "skops":
        info["pickler"] = fmt
    info["mlflow"] = {
        "loader_module": loader,
        "flavors": sorted(flavors),
        "mlflow_version": doc.get("mlflow_version"),
        "run_id": doc.get("run_id"),
        "model_uuid": doc.get("model_uuid"),
        "signature": doc.get("signature"),
    }
    try:
        return ModelManifest(
            source_format="mlflow",
            flavor=flavor,
            model_file=str(model_file),
            serialization="skops" if fmt == "skops" else "pickle",
            unsafe=fmt != "skops",
            flavor_info=info,
            signature=signature_from_mlflow(doc.get("signature")),
            input_example=_example(doc),
            requirements=_requirements(directory),
            python_version=str(pyfunc_conf.get("python_version") or "unknown"),
            created_at=_created_at(doc, directory),
            metadata=doc.get("metadata") or {},
            files=digest_files(directory),
        )
    except ValueError as exc:  # pydantic's ValidationError
        raise ValidationFailed(f"MLmodel does not describe a loadable model: {exc}", {"path": MLMODEL_FILE}) from exc


# --- loading ------------------------------------------------------------------------


class MLflowContext:
    """What MLflow passes a ``PythonModel``: its artifacts (name → local path) and config."""

    def __init__(self, artifacts: dict[str, str], model_config: dict[str, Any]) -> None:
        self.artifacts = artifacts
        self.model_config = model_config


def load_mlflow(directory: Path, manifest: ModelManifest, *, allow_pickle: bool) -> tuple[Any, Predictor]:
    """The native model and a predictor for an MLflow directory described by ``manifest``."""
    info = manifest.flavor_info
    path = directory / manifest.model_file
    if manifest.flavor == "sklearn":
        if manifest.serialization == "skops":
            raw = load_skops(path)
        else:
            raw = unpickle(path, pickler=info["pickler"], allow_pickle=allow_pickle, what="MLflow model")
        sklearn = get_flavor("sklearn")

        def predict_sklearn(data: Any, params: Mapping[str, Any] | None) -> Any:
            return sklearn.predict(raw, data, info, params)

        return raw, predict_sklearn

    python_model = unpickle(path, pickler=info["pickler"], allow_pickle=allow_pickle, what="MLflow python_model")
    artifacts = {name: str(directory / rel) for name, rel in _artifacts_of(info).items()}
    context = MLflowContext(artifacts, dict(info.get("model_config") or {}))
    if callable(getattr(python_model, "load_context", None)):
        python_model.load_context(context)

    def predict_python_model(data: Any, params: Mapping[str, Any] | None) -> Any:
        return call_predict(python_model.predict, (context, data), params)

    return python_model, predict_python_model
