"""Shape registry rows into API objects, loading related rows in bulk."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shipyard.registry.schemas import (
    AliasRequestOut,
    ModelVersionOut,
    RegisteredModelOut,
    RequestStatus,
    VersionFileOut,
    VersionStatus,
)
from shipyard.registry.tables import (
    AliasChangeRequest,
    ModelAlias,
    ModelTag,
    ModelVersion,
    ModelVersionFile,
    ModelVersionTag,
    RegisteredModel,
)


def model_out(session: Session, models: Sequence[RegisteredModel]) -> list[RegisteredModelOut]:
    ids = [m.id for m in models]
    tags: dict[str, dict[str, str]] = {i: {} for i in ids}
    aliases: dict[str, dict[str, int]] = {i: {} for i in ids}
    latest: dict[str, int] = {}
    if ids:
        for tag in session.scalars(select(ModelTag).where(ModelTag.model_id.in_(ids))):
            tags[tag.model_id][tag.key] = tag.value
        rows = session.execute(
            select(ModelAlias.model_id, ModelAlias.alias, ModelVersion.version)
            .join(ModelVersion, ModelVersion.id == ModelAlias.version_id)
            .where(ModelAlias.model_id.in_(ids))
        ).all()
        for model_id, alias, version in rows:
            aliases[model_id][alias] = version
        latest = dict(
            session.execute(
                select(ModelVersion.model_id, func.max(ModelVersion.version))
                .where(ModelVersion.model_id.in_(ids), ModelVersion.deleted_at.is_(None))
                .group_by(ModelVersion.model_id)
            ).all()
        )
    return [
        RegisteredModelOut(
            id=m.id,
            name=m.name,
            description=m.description,
            latest_version=latest.get(m.id, 0),
            aliases=dict(sorted(aliases[m.id].items())),
            tags=tags[m.id],
            created_at=m.created_at,
            updated_at=m.updated_at,
            archived_at=m.archived_at,
            deleted_at=m.deleted_at,
        )
        for m in models
    ]


def version_out(session: Session, model: RegisteredModel, versions: Sequence[ModelVersion]) -> list[ModelVersionOut]:
    ids = [v.id for v in versions]
    tags: dict[str, dict[str, str]] = {i: {} for i in ids}
    aliases: dict[str, list[str]] = {i: [] for i in ids}
    files: dict[str, list[VersionFileOut]] = {i: [] for i in ids}
    if ids:
        for tag in session.scalars(select(ModelVersionTag).where(ModelVersionTag.version_id.in_(ids))):
            tags[tag.version_id][tag.key] = tag.value
        for alias in session.scalars(select(ModelAlias).where(ModelAlias.version_id.in_(ids))):
            aliases[alias.version_id].append(alias.alias)
        for f in session.scalars(
            select(ModelVersionFile).where(ModelVersionFile.version_id.in_(ids)).order_by(ModelVersionFile.path)
        ):
            files[f.version_id].append(VersionFileOut.model_validate(f))
    return [
        ModelVersionOut(
            id=v.id,
            model_name=model.name,
            version=v.version,
            source=v.source_uri,
            run_id=v.source_run_id,
            flavor=v.flavor,
            signature=v.signature,
            input_example=v.input_example,
            manifest_digest=v.manifest_digest,
            description=v.description,
            status=VersionStatus(v.status),
            status_message=v.status_message,
            tags=tags[v.id],
            aliases=sorted(aliases[v.id]),
            created_by=v.created_by,
            created_at=v.created_at,
            updated_at=v.updated_at,
            archived_at=v.archived_at,
            deleted_at=v.deleted_at,
            files=files[v.id],
        )
        for v in versions
    ]


def request_out(session: Session, rows: Sequence[AliasChangeRequest]) -> list[AliasRequestOut]:
    """Replies for ``rows``, their model names read in one query."""
    ids = {r.model_id for r in rows}
    names: dict[str, str] = {}
    if ids:
        query = select(RegisteredModel.id, RegisteredModel.name).where(RegisteredModel.id.in_(ids))
        names = {row.id: row.name for row in session.execute(query)}
    return [
        AliasRequestOut(
            id=r.id,
            model=names[r.model_id],
            alias=r.alias,
            action="set" if r.to_version is not None else "delete",
            from_version=r.from_version,
            to_version=r.to_version,
            requested_by=r.requested_by,
            comment=r.comment,
            created_at=r.created_at,
            status=RequestStatus(r.status),
            decided_by=r.decided_by,
            decision_comment=r.decision_comment,
            decided_at=r.decided_at,
        )
        for r in rows
    ]
