"""Aliases (``@production``, ``@staging``, any name): moved atomically, history kept."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.errors import Conflict, InvalidArgument, NotFound
from shipyard.events.context import Actor
from shipyard.projects.tables import Project
from shipyard.registry import models, versions
from shipyard.registry.schemas import VersionStatus
from shipyard.registry.tables import ModelAlias, ModelAliasChange, ModelVersion, RegisteredModel
from shipyard.store.base import utcnow
from shipyard.store.pagination import Page, paginate

_RESERVED = re.compile(r"^(latest|[vV]\d+)$")
_ALIAS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,254}$")


def check_alias(alias: str) -> str:
    if not _ALIAS.match(alias):
        raise InvalidArgument(
            f"alias '{alias[:80]}' must be letters, digits, '_' and '-', starting with a letter or digit "
            "(at most 255), so that models:/<name>@<alias> can name it",
            {"field": "alias"},
        )
    if _RESERVED.match(alias):
        raise InvalidArgument(f"alias '{alias}' is reserved ('latest' and v<N> name versions)", {"field": "alias"})
    return alias


def set_alias(
    session: Session, actor: Actor, project: Project, name: str, alias: str, number: int
) -> tuple[RegisteredModel, ModelVersion]:
    check_alias(alias)
    model = models.get_for_update(session, project, name)
    _, version = versions.get(session, project, name, number)
    if version.status != VersionStatus.READY.value:
        raise Conflict(
            f"version {number} of '{name}' is {version.status}; only READY versions can carry an alias",
            {"resource": "model_version", "version": number, "status": version.status},
        )
    current = session.get(ModelAlias, (model.id, alias))
    previous: int | None = None
    if current is not None:
        if current.version_id == version.id:
            return model, version
        previous = session.scalar(select(ModelVersion.version).where(ModelVersion.id == current.version_id))
        current.version_id = version.id
        current.updated_at = utcnow()
        current.updated_by = actor.name
    else:
        session.add(ModelAlias(model_id=model.id, alias=alias, version_id=version.id, updated_by=actor.name))
    session.add(
        ModelAliasChange(model_id=model.id, alias=alias, from_version=previous, to_version=number, actor=actor.name)
    )
    session.flush()
    models.event(session, actor, "model_alias.set", model, alias=alias, from_version=previous, to_version=number)
    return model, version


def delete_alias(session: Session, actor: Actor, project: Project, name: str, alias: str) -> None:
    model = models.get_for_update(session, project, name)
    current = session.get(ModelAlias, (model.id, alias))
    if current is None:
        raise NotFound(f"registered model '{name}' has no alias @{alias}", {"resource": "model_alias", "alias": alias})
    previous = session.scalar(select(ModelVersion.version).where(ModelVersion.id == current.version_id))
    session.delete(current)
    session.add(
        ModelAliasChange(model_id=model.id, alias=alias, from_version=previous, to_version=None, actor=actor.name)
    )
    session.flush()
    models.event(session, actor, "model_alias.delete", model, alias=alias, from_version=previous)


def resolve(session: Session, project: Project, name: str, alias: str) -> tuple[RegisteredModel, ModelVersion]:
    model = models.get(session, project, name)
    current = session.get(ModelAlias, (model.id, alias))
    if current is None:
        raise NotFound(f"registered model '{name}' has no alias @{alias}", {"resource": "model_alias", "alias": alias})
    version = session.get(ModelVersion, current.version_id)
    assert version is not None
    return model, version


def history(
    session: Session, project: Project, name: str, *, alias: str | None, page_token: str | None, page_size: int
) -> Page[ModelAliasChange]:
    model = models.get(session, project, name)
    stmt = select(ModelAliasChange).where(ModelAliasChange.model_id == model.id)
    if alias:
        stmt = stmt.where(ModelAliasChange.alias == alias)
    return paginate(
        session,
        stmt,
        [ModelAliasChange.id],
        scope=f"alias-history:{model.id}:{alias}",
        page_token=page_token,
        page_size=page_size,
        key_of=lambda c: [c.id],
    )
