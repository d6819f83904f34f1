"""Saving and loading model directories: the package's use cases."""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from shipyard.errors import AlreadyExists, InvalidArgument, NotFound, ValidationFailed
from shipyard.models.examples import write_example
from shipyard.models.files import digest_files, verify_files
from shipyard.models.flavors import Flavor, SavedFlavor, detect_flavor, get_flavor
from shipyard.models.loaded import LoadedModel, Predictor
from shipyard.models.manifest import (
    MANIFEST_FILE,
    MLMODEL_FILE,
    ModelManifest,
    read_manifest_file,
    write_manifest_file,
)
from shipyard.models.mlflow_format import load_mlflow, mlflow_manifest
from shipyard.models.requirements import resolve_requirements
from shipyard.models.signature import ModelSignature, specs_for
from shipyard.models.validation import normalise_output, prepare_input


def save_model(
    model: Any,
    path: str | os.PathLike[str],
    *,
    flavor: str | None = None,
    signature: Literal["infer"] | ModelSignature | None = "infer",
    input_example: Any = None,
    requirements: Sequence[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> ModelManifest:
    """Write ``model`` as a model directory at ``path`` and return its manifest.

    ``path`` must not exist, or be an empty directory. The files are written to a sibling
    staging directory that is renamed into place at the end, so a failed save leaves
    nothing behind. ``signature="infer"`` derives the signature from ``input_example`` and
    the model's own output on it (no example: no signature); pass a
    :class:`ModelSignature` to state it, or ``None`` for none.
    """
    target = Path(path)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise AlreadyExists(f"'{target}' already exists and is not an empty directory", {"field": "path"})
    if not (signature is None or signature == "infer" or isinstance(signature, ModelSignature)):
        raise InvalidArgument("signature must be 'infer', a ModelSignature or None", {"field": "signature"})
    chosen = get_flavor(flavor if flavor is not None else detect_flavor(model))
    meta = _json_object(metadata)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".staging", dir=target.parent))
    try:
        saved = chosen.save(model, staging)
        example_ref = write_example(input_example, staging) if input_example is not None else None
        if isinstance(signature, ModelSignature):
            if input_example is not None:
                _check_example(input_example, signature)
            model_signature: ModelSignature | None = signature
        elif signature == "infer" and input_example is not None:
            model_signature = _infer(chosen, saved, staging, input_example)
        else:
            model_signature = None
        manifest = ModelManifest(
            flavor=chosen.name,
            model_file=saved.model_file,
            serialization=saved.serialization,
            unsafe=saved.unsafe,
            flavor_info=saved.info,
            signature=model_signature,
            input_example=example_ref,
            requirements=resolve_requirements(saved.packages, requirements),
            python_version=platform.python_version(),
            created_at=datetime.now(UTC),
            metadata=meta,
            files=digest_files(staging),
        )
        write_manifest_file(staging, manifest)
        staging.chmod(0o755)
        if target.exists():
            target.rmdir()
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def _json_object(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidArgument("metadata must be a mapping", {"field": "metadata"})
    try:
        copied = json.loads(json.dumps(dict(metadata), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"metadata must be JSON-serialisable: {exc}", {"field": "metadata"}) from exc
    return dict(copied)


def _check_example(example: Any, signature: ModelSignature) -> None:
    try:
        prepare_input(example, signature)
    except ValidationFailed as exc:
        raise InvalidArgument(
            f"input_example does not match the signature: {exc.message}", {"field": "input_example", **exc.details}
        ) from exc


def _infer(flavor: Flavor, saved: SavedFlavor, directory: Path, example: Any) -> ModelSignature:
    """Inputs from the example; outputs from the model read back from ``directory`` and run on it."""
    inputs = ModelSignature(inputs=specs_for(example, "input_example"))
    raw = flavor.load(directory, saved.model_file, saved.info, allow_pickle=True)  # we just wrote it
    try:
        output = flavor.predict(raw, prepare_input(example, inputs), saved.info, None)
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidArgument(
            f"the model failed on input_example, so no signature could be inferred: {exc}", {"field": "input_example"}
        ) from exc
    return ModelSignature(inputs=inputs.inputs, outputs=specs_for(normalise_output(output), "model output"))


def _model_dir(path: str | os.PathLike[str]) -> Path:
    root = Path(path)
    if not root.is_dir():
        raise NotFound(f"no model directory at '{root}'", {"path": str(root)})
    return root


def _manifest_of(root: Path) -> ModelManifest:
    if (root / MANIFEST_FILE).is_file():
        return read_manifest_file(root)
    if (root / MLMODEL_FILE).is_file():
        return mlflow_manifest(root)
    raise NotFound(f"'{root}' has neither {MANIFEST_FILE} nor an MLflow {MLMODEL_FILE}", {"path": str(root)})


def read_manifest(path: str | os.PathLike[str]) -> ModelManifest:
    """The manifest of a model directory, without checking files or loading the model.

    For an MLflow directory it is built from ``MLmodel``, with digests of the files as they are."""
    return _manifest_of(_model_dir(path))


def verify_model(path: str | os.PathLike[str]) -> ModelManifest:
    """The manifest, once every file is checked against it (see :func:`verify_files`).

    An MLflow directory records no digests, so there is nothing to check it against: its
    manifest is returned with the digests of its files as they are now."""
    root = _model_dir(path)
    manifest = _manifest_of(root)
    if (root / MANIFEST_FILE).is_file():
        verify_files(root, manifest, exclude=[MANIFEST_FILE])
    return manifest


def load_model(path: str | os.PathLike[str], *, allow_pickle: bool = True, verify: bool = True) -> LoadedModel:
    """Load a Shipyard or MLflow model directory.

    With ``verify`` (the default) every file must match the manifest's sha256 and size
    (:class:`DigestMismatch` names the file) and no file may be missing or unlisted
    (:class:`ValidationFailed`). A pickled model (``pyfunc``, MLflow pickles) loads only
    with ``allow_pickle=True``; otherwise :class:`PermissionDenied`.
    """
    root = _model_dir(path)
    manifest = verify_model(root) if verify else _manifest_of(root)
    if manifest.source_format == "mlflow":
        raw, predictor = load_mlflow(root, manifest, allow_pickle=allow_pickle)
        return LoadedModel(path=root, manifest=manifest, raw=raw, predictor=predictor)
    flavor = get_flavor(manifest.flavor)
    raw = flavor.load(root, manifest.model_file, manifest.flavor_info, allow_pickle=allow_pickle)
    return LoadedModel(path=root, manifest=manifest, raw=raw, predictor=_predictor(flavor, raw, manifest))


def _predictor(flavor: Flavor, raw: Any, manifest: ModelManifest) -> Predictor:
    info = manifest.flavor_info

    def predict(data: Any, params: Mapping[str, Any] | None) -> Any:
        return flavor.predict(raw, data, info, params)

    return predict
