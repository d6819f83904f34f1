"""Which model a job runs: a registry URI fetched into the local cache, or a directory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shipyard.client import Client
from shipyard.errors import InvalidArgument, NotFound
from shipyard.registry import uris

URI_SCHEMES = ("models:/", "runs:/")


@dataclass(frozen=True)
class ModelSource:
    uri: str  # as the user gave it
    path: Path
    resolved_uri: str | None = None
    name: str | None = None
    version: int | None = None
    run_id: str | None = None


def resolve_model(model: str, client: Callable[[], Client], *, project: str | None = None) -> ModelSource:
    """A local model directory for ``model``.

    ``models:/name@alias`` and ``models:/name/latest`` are resolved once to a version, and
    that version (``models:/name/<n>``) is what is downloaded and recorded, so an alias
    that moves during the job changes nothing. Downloads are verified by sha256 and cached
    under ``$SHIPYARD_HOME/cache/models``. ``runs:/`` URIs fetch the run's files."""
    if model.startswith(URI_SCHEMES):
        ref = uris.parse(model)
        if isinstance(ref, uris.RunRef):
            return ModelSource(model, client().download_model(model, project=project), run_id=ref.run_id)
        version = client().resolve_model(model, project=project)
        pinned = f"models:/{version.model_name}/{version.version}"
        return ModelSource(
            uri=model,
            path=client().download_model(pinned, project=project),
            resolved_uri=pinned,
            name=version.model_name,
            version=version.version,
            run_id=version.run_id,
        )
    path = Path(model).expanduser()
    if not path.is_dir():
        if "://" in model or ":/" in model:
            raise InvalidArgument(
                f"'{model}' is not a model this command can load; use models:/<name>@<alias>, "
                "models:/<name>/<version>, runs:/<run id>/<path> or a local model directory",
                {"field": "model"},
            )
        raise NotFound(f"no model directory at '{model}'", {"field": "model", "path": str(path)})
    return ModelSource(uri=model, path=path.resolve())
