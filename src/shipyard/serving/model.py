"""What the server serves: a model under a name and a version, loaded now or on start."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shipyard.errors import InvalidArgument
from shipyard.models import MANIFEST_FILE, LoadedModel, load_model
from shipyard.models.manifest import MLMODEL_FILE

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


@dataclass(frozen=True)
class ServedModel:
    """A model to serve as ``name``/``version``.

    Give either ``model`` (already loaded) or ``loader`` (called on a background thread
    when the server starts, so it answers liveness while a big model loads). ``uri`` says
    where it came from (``models:/iris@prod``, a directory), for metadata and logs;
    ``path`` is its directory (the first estimate of its memory, see
    :mod:`shipyard.serving.memory`). A ``pinned`` model is never evicted to make room for
    another under the memory budget.
    """

    name: str
    version: str = "1"
    model: LoadedModel | None = None
    loader: Callable[[], LoadedModel] | None = None
    uri: str = ""
    path: Path | None = None
    pinned: bool = False

    def __post_init__(self) -> None:
        if not is_model_name(self.name):
            raise InvalidArgument(
                f"model name {self.name!r} must be 1-128 letters, digits, '_', '.' or '-'", {"field": "name"}
            )
        if not _VERSION.match(self.version):
            raise InvalidArgument(
                f"model version {self.version!r} must be 1-64 letters, digits, '_', '.' or '-'", {"field": "version"}
            )
        if (self.model is None) == (self.loader is None):
            raise InvalidArgument("a ServedModel needs exactly one of model= or loader=", {"field": "model"})

    def load(self) -> LoadedModel:
        if self.model is not None:
            return self.model
        assert self.loader is not None
        return self.loader()

    @property
    def directory(self) -> Path | None:
        """The model's directory on disk, when known."""
        return self.path or (self.model.path if self.model is not None else None)

    @classmethod
    def from_path(
        cls,
        path: str | os.PathLike[str],
        *,
        name: str | None = None,
        version: str | None = None,
        uri: str | None = None,
        allow_pickle: bool = True,
        pinned: bool = False,
    ) -> ServedModel:
        """Serve a model directory; it is loaded (and its files verified) when the server starts.

        The name defaults to the directory's name, the version to the first 12 hex digits
        of its manifest's sha256, so the version names exactly the files that answer."""
        root = Path(path)
        return cls(
            name=name or directory_name(root),
            version=version or content_version(root),
            loader=lambda: load_model(root, allow_pickle=allow_pickle),
            uri=uri or str(root),
            path=root,
            pinned=pinned,
        )


def is_model_name(name: str) -> bool:
    """Whether ``name`` can name a served model: 1-128 letters, digits, '_', '.' or '-',
    starting with a letter or digit (so it is also a safe directory name)."""
    return _NAME.match(name) is not None


def manifest_file(path: Path) -> Path | None:
    """The file that makes ``path`` a model directory (Shipyard's manifest, or MLflow's
    ``MLmodel``); None if it is not one."""
    for candidate in (MANIFEST_FILE, MLMODEL_FILE):
        manifest = path / candidate
        if manifest.is_file():
            return manifest
    return None


def directory_name(path: Path) -> str:
    """The name a model directory is served under by default: its name, made a valid model name."""
    cleaned = re.sub(r"[^A-Za-z0-9_.\-]", "-", path.resolve().name).lstrip("-_.")
    return cleaned[:128] or "model"


def content_version(path: Path) -> str:
    """A version for a model that has none: the start of its manifest's sha256."""
    manifest = manifest_file(path)
    if manifest is not None:
        return hashlib.sha256(manifest.read_bytes()).hexdigest()[:12]
    raise InvalidArgument(f"'{path}' is not a model directory (no {MANIFEST_FILE} or MLmodel)", {"field": "model"})


__all__ = ["ServedModel", "content_version", "directory_name", "is_model_name", "manifest_file"]
