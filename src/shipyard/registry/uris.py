"""Model URIs: ``models:/<name>@<alias>``, ``models:/<name>/<version>``,
``models:/<name>/latest`` and ``runs:/<run id>/<path>``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from shipyard.errors import InvalidArgument

_MODEL = re.compile(
    r"^models:/(?P<name>[A-Za-z0-9][A-Za-z0-9_.\-]*)(?:@(?P<alias>[A-Za-z0-9][A-Za-z0-9_\-]*)|/(?P<ref>\d+|latest))$"
)
_RUN = re.compile(r"^runs:/(?P<run>[0-9a-f]{32})/(?P<path>.+)$")


@dataclass(frozen=True)
class ModelRef:
    name: str
    alias: str | None = None
    version: int | None = None  # None with no alias: the latest version


@dataclass(frozen=True)
class RunRef:
    run_id: str
    path: str


def parse(uri: str) -> ModelRef | RunRef:
    model = _MODEL.match(uri)
    if model:
        ref = model.group("ref")
        return ModelRef(
            name=model.group("name"),
            alias=model.group("alias"),
            version=int(ref) if ref and ref != "latest" else None,
        )
    run = _RUN.match(uri)
    if run:
        return RunRef(run_id=run.group("run"), path=run.group("path").strip("/"))
    raise InvalidArgument(
        f"'{uri}' is not a model URI; use models:/<name>@<alias>, models:/<name>/<version>, "
        "models:/<name>/latest or runs:/<run id>/<path>",
        {"field": "uri"},
    )
