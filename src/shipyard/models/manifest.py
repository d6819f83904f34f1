"""``shipyard-model.json``: the manifest at the root of every model directory.

It says how to load the model (flavor, model file, serialization), what the model takes
and returns (signature, input example), what it needs (pinned requirements, Python
version) and, for every other file in the directory, its sha256 and size, so that a
reader can tell a complete, untouched model from a damaged one. The manifest itself is
the root of that trust: the registry records the manifest's own digest.

Example::

    {
      "format_version": 1,
      "source_format": "shipyard",
      "flavor": "sklearn",
      "model_file": "model.skops",
      "serialization": "skops",
      "unsafe": false,
      "flavor_info": {"sklearn_version": "1.9.1", "estimator": "sklearn.pipeline.Pipeline"},
      "signature": {"inputs": [{"kind": "column", "name": "x", "type": "float64", ...}], ...},
      "input_example": {"path": "input_example.json", "type": "dataframe", "format": "shipyard"},
      "requirements": ["numpy==2.4.6", "scikit-learn==1.9.1", "scipy==1.17.1", "skops==0.16.0"],
      "python_version": "3.11.7",
      "created_at": "2026-01-02T03:04:05.678901Z",
      "metadata": {},
      "files": [{"path": "input_example.json", "sha256": "…", "size": 312}, …]
    }
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shipyard.errors import PreconditionFailed, ValidationFailed
from shipyard.models.signature import ModelSignature

MANIFEST_FILE = "shipyard-model.json"
MLMODEL_FILE = "MLmodel"
FORMAT_VERSION = 1

SourceFormat = Literal["shipyard", "mlflow"]


def check_relative_path(value: str) -> str:
    """A file path inside a model directory: relative, forward slashes, no ``..``."""
    pure = PurePosixPath(value)
    if (
        not value
        or "\\" in value
        or "\x00" in value
        or pure.is_absolute()
        or any(part in ("", ".", "..") for part in value.split("/"))
    ):
        raise ValueError(f"'{value[:200]}' is not a relative path inside the model directory")
    return value


class FileEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)

    _path = field_validator("path")(check_relative_path)


class InputExampleRef(BaseModel):
    """Where the stored input example is and how it is encoded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    type: Literal["dataframe", "ndarray", "tensors", "records"]
    format: SourceFormat = "shipyard"

    _path = field_validator("path")(check_relative_path)


class ModelManifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format_version: Literal[1] = 1
    source_format: SourceFormat = "shipyard"
    flavor: str
    model_file: str
    serialization: str
    unsafe: bool = False
    flavor_info: dict[str, Any] = Field(default_factory=dict)
    signature: ModelSignature | None = None
    input_example: InputExampleRef | None = None
    requirements: list[str] = Field(default_factory=list)
    python_version: str
    created_at: AwareDatetime
    metadata: dict[str, Any] = Field(default_factory=dict)
    files: list[FileEntry] = Field(default_factory=list)

    _model_file = field_validator("model_file")(check_relative_path)

    @field_validator("created_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _consistent(self) -> ModelManifest:
        if self.serialization == "pickle" and not self.unsafe:
            raise ValueError("a pickled model is unsafe to load: 'unsafe' must be true")
        paths = [entry.path for entry in self.files]
        if len(set(paths)) != len(paths):
            raise ValueError("files lists a path twice")
        if paths and self.model_file not in paths:
            raise ValueError(f"model_file '{self.model_file}' is not among files")
        if paths and self.input_example is not None and self.input_example.path not in paths:
            raise ValueError(f"input example '{self.input_example.path}' is not among files")
        return self

    def file(self, path: str) -> FileEntry | None:
        return next((entry for entry in self.files if entry.path == path), None)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"


def parse_manifest(text: str | bytes, where: str = MANIFEST_FILE) -> ModelManifest:
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise ValidationFailed(f"{where} is not valid JSON: {exc}", {"path": where}) from exc
    if not isinstance(raw, dict):
        raise ValidationFailed(f"{where} must hold a JSON object", {"path": where})
    version = raw.get("format_version")
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise PreconditionFailed(
            f"{where} has format_version {version}; this Shipyard reads up to {FORMAT_VERSION}: upgrade Shipyard",
            {"path": where, "format_version": version},
        )
    try:
        return ModelManifest.model_validate(raw)
    except ValidationError as exc:
        errors = [{"loc": ".".join(str(p) for p in e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        raise ValidationFailed(
            f"{where} is not a valid model manifest: {errors[0]['loc']}: {errors[0]['msg']}",
            {"path": where, "errors": errors},
        ) from exc


def read_manifest_file(directory: Path) -> ModelManifest:
    return parse_manifest((directory / MANIFEST_FILE).read_bytes())


def write_manifest_file(directory: Path, manifest: ModelManifest) -> None:
    (directory / MANIFEST_FILE).write_text(manifest.to_json(), encoding="utf-8")
