"""Model version use cases.

A version is registered from a model logged under a run (``runs:/<id>/<path>``). Its
number comes from the model row's counter, incremented in the registering transaction
while the row is locked, so numbers are unique and gapless under concurrent
registration. Registration checks the Shipyard manifest against the logged files (names,
sizes, sha256): a mismatch leaves a FAILED_REGISTRATION version saying which file. The
version's file list is written once and never changes; its bytes are immutable blobs.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.artifacts.backends import BlobStore
from shipyard.errors import Conflict, InvalidArgument, NotFound, ShipyardError
from shipyard.events.context import Actor
from shipyard.models.manifest import MANIFEST_FILE, ModelManifest, parse_manifest
from shipyard.projects.tables import Project
from shipyard.registry import models, uris
from shipyard.registry.guards import deletion_blockers
from shipyard.registry.schemas import VersionCreate, VersionStatus, VersionUpdate
from shipyard.registry.tables import ModelAlias, ModelVersion, ModelVersionFile, ModelVersionTag, RegisteredModel
from shipyard.store.base import utcnow
from shipyard.store.pagination import Page, paginate
from shipyard.tracking import artifacts, runs
from shipyard.tracking.tables import RunArtifact

MAX_INPUT_EXAMPLE_BYTES = 1024 * 1024


def _event(
    session: Session, actor: Actor, action: str, model: RegisteredModel, version: ModelVersion, **details: object
) -> None:
    models.event(session, actor, action, model, version=version.version, **details)


def get(session: Session, project: Project, name: str, version: int) -> tuple[RegisteredModel, ModelVersion]:
    model = models.get(session, project, name)
    row = session.scalar(select(ModelVersion).where(ModelVersion.model_id == model.id, ModelVersion.version == version))
    if row is None or row.deleted_at is not None:
        raise NotFound(
            f"registered model '{name}' has no version {version}",
            {"resource": "model_version", "name": name, "version": version},
        )
    return model, row


def latest(session: Session, project: Project, name: str) -> tuple[RegisteredModel, ModelVersion]:
    model = models.get(session, project, name)
    row = session.scalar(
        select(ModelVersion)
        .where(
            ModelVersion.model_id == model.id,
            ModelVersion.deleted_at.is_(None),
            ModelVersion.archived_at.is_(None),
            ModelVersion.status == VersionStatus.READY.value,
        )
        .order_by(ModelVersion.version.desc())
        .limit(1)
    )
    if row is None:
        raise NotFound(f"registered model '{name}' has no READY version", {"resource": "model_version", "name": name})
    return model, row


def _model_files(session: Session, project: Project, source: str) -> tuple[str, str, dict[str, RunArtifact]]:
    ref = uris.parse(source)
    if not isinstance(ref, uris.RunRef):
        raise InvalidArgument(
            f"source must be a runs:/<run id>/<path> URI of a logged model, got '{source}'", {"field": "source"}
        )
    run = runs.get(session, project, ref.run_id)
    files = artifacts.all_under(session, project, run.id, ref.path)
    prefix = ref.path.rstrip("/") + "/"
    return run.id, ref.path, {f.path[len(prefix) :]: f for f in files if f.path.startswith(prefix)}


def _check(store: BlobStore, files: dict[str, RunArtifact]) -> tuple[ModelManifest, str]:
    """The manifest and its digest, or an error naming what does not match."""
    entry = files.get(MANIFEST_FILE)
    if entry is None:
        raise InvalidArgument(
            f"no {MANIFEST_FILE} in the logged files; log the model with shipyard.log_model",
            {"field": "source"},
        )
    manifest = parse_manifest(store.read_bytes(entry.digest), where=MANIFEST_FILE)
    listed = {f.path: f for f in manifest.files}
    for path, f in listed.items():
        logged = files.get(path)
        if logged is None:
            raise InvalidArgument(f"manifest lists '{path}' but it was not logged", {"path": path})
        if logged.digest != f.sha256 or logged.size != f.size:
            raise InvalidArgument(
                f"'{path}' does not match the manifest: logged sha256:{logged.digest} ({logged.size} bytes), "
                f"manifest says sha256:{f.sha256} ({f.size} bytes)",
                {"path": path},
            )
    extra = sorted(set(files) - set(listed) - {MANIFEST_FILE})
    if extra:
        raise InvalidArgument(f"logged files not in the manifest: {', '.join(extra)}", {"paths": extra})
    return manifest, entry.digest


def _input_example(store: BlobStore, manifest: ModelManifest, files: dict[str, RunArtifact]) -> Any:
    ref = manifest.input_example
    if ref is None or ref.path not in files or files[ref.path].size > MAX_INPUT_EXAMPLE_BYTES:
        return None
    try:
        return json.loads(store.read_bytes(files[ref.path].digest))
    except ValueError:
        return None


def create(
    session: Session, actor: Actor, project: Project, store: BlobStore, name: str, data: VersionCreate
) -> tuple[RegisteredModel, ModelVersion]:
    run_id, _, files = _model_files(session, project, data.source)
    model = models.get_for_update(session, project, name)
    model.last_version += 1
    version = ModelVersion(
        model_id=model.id,
        version=model.last_version,
        source_uri=data.source,
        source_run_id=run_id,
        description=data.description,
        status=VersionStatus.PENDING_REGISTRATION.value,
        created_by=actor.name,
    )
    session.add(version)
    session.flush()
    try:
        manifest, manifest_digest = _check(store, files)
    except (ShipyardError, ValidationError) as exc:
        version.status = VersionStatus.FAILED_REGISTRATION.value
        version.status_message = exc.message if isinstance(exc, ShipyardError) else str(exc).splitlines()[0]
    else:
        version.status = VersionStatus.READY.value
        version.flavor = manifest.flavor
        version.signature = manifest.signature.model_dump(mode="json") if manifest.signature else None
        version.input_example = _input_example(store, manifest, files)
        version.manifest_digest = manifest_digest
    for path, f in sorted(files.items()):
        session.add(ModelVersionFile(version_id=version.id, path=path, digest=f.digest, size=f.size))
    for key, value in data.tags.items():
        session.add(ModelVersionTag(version_id=version.id, key=key, value=value))
    session.flush()
    _event(session, actor, "model_version.create", model, version, status=version.status, source=data.source)
    return model, version


def update(
    session: Session, actor: Actor, project: Project, name: str, number: int, data: VersionUpdate
) -> tuple[RegisteredModel, ModelVersion]:
    model, version = get(session, project, name, number)
    if data.description is not None:
        version.description = data.description
        session.flush()
        _event(session, actor, "model_version.update", model, version, description=True)
    return model, version


def archive(
    session: Session, actor: Actor, project: Project, name: str, number: int
) -> tuple[RegisteredModel, ModelVersion]:
    model, version = get(session, project, name, number)
    if version.archived_at is None:
        version.archived_at = utcnow()
        session.flush()
        _event(session, actor, "model_version.archive", model, version)
    return model, version


def delete_version(
    session: Session, actor: Actor, project: Project, name: str, number: int
) -> tuple[RegisteredModel, ModelVersion]:
    model, version = get(session, project, name, number)
    blockers = deletion_blockers(session, model_id=model.id, version_id=version.id)
    aliases = session.scalars(select(ModelAlias.alias).where(ModelAlias.version_id == version.id)).all()
    if aliases:
        blockers.append(f"aliases {', '.join('@' + a for a in sorted(aliases))} point at it")
    if blockers:
        raise Conflict(
            f"version {number} of '{name}' cannot be deleted: {'; '.join(blockers)}",
            {"resource": "model_version", "name": name, "version": number, "blockers": blockers},
        )
    version.deleted_at = utcnow()
    session.flush()
    _event(session, actor, "model_version.delete", model, version)
    return model, version


def restore(
    session: Session, actor: Actor, project: Project, name: str, number: int
) -> tuple[RegisteredModel, ModelVersion]:
    model = models.get(session, project, name)
    version = session.scalar(
        select(ModelVersion).where(ModelVersion.model_id == model.id, ModelVersion.version == number)
    )
    if version is None:
        raise NotFound(
            f"registered model '{name}' has no version {number}",
            {"resource": "model_version", "name": name, "version": number},
        )
    if version.deleted_at is not None or version.archived_at is not None:
        version.deleted_at = None
        version.archived_at = None
        session.flush()
        _event(session, actor, "model_version.restore", model, version)
    return model, version


def list_versions(
    session: Session,
    project: Project,
    name: str,
    *,
    include_archived: bool = True,
    page_token: str | None,
    page_size: int,
) -> tuple[RegisteredModel, Page[ModelVersion]]:
    model = models.get(session, project, name)
    stmt = select(ModelVersion).where(ModelVersion.model_id == model.id, ModelVersion.deleted_at.is_(None))
    if not include_archived:
        stmt = stmt.where(ModelVersion.archived_at.is_(None))
    page: Page[ModelVersion] = paginate(
        session,
        stmt,
        [ModelVersion.version],
        scope=f"versions:{model.id}:{include_archived}",
        page_token=page_token,
        page_size=page_size,
        key_of=lambda v: [v.version],
        descending=True,
    )
    return model, page
