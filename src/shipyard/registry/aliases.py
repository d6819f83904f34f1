"""Aliases (``@production``, ``@staging``, any name): moved atomically, history kept.

A project can *protect* alias names (:func:`protect`): every model's ``@<name>`` in that
project then moves only through an approved change request
(:mod:`shipyard.registry.approvals`). :func:`set_alias` and :func:`delete_alias` are the
one place that rule is enforced; an approval passes its request id as ``approval`` and
goes through the very same code.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.artifacts.backends import BlobStore
from shipyard.errors import Conflict, InvalidArgument, NotFound
from shipyard.events import service as events
from shipyard.events.context import Actor
from shipyard.projects.tables import Project
from shipyard.registry import models, versions
from shipyard.registry.guards import promotion_details
from shipyard.registry.schemas import VersionStatus
from shipyard.registry.tables import ModelAlias, ModelAliasChange, ModelVersion, ProtectedAlias, RegisteredModel
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
    session: Session,
    actor: Actor,
    project: Project,
    name: str,
    alias: str,
    number: int,
    *,
    approval: int | None = None,
    store: BlobStore | None = None,
) -> tuple[RegisteredModel, ModelVersion]:
    """Point ``@alias`` of ``name`` at version ``number``. A protected alias is refused
    unless ``approval`` names the approved request applying it (recorded on the event); a
    gated alias is refused unless the version passes its gate (:mod:`shipyard.registry.guards`;
    ``store`` lets the gate read the version's manifest)."""
    check_alias(alias)
    model = models.get_for_update(session, project, name)
    _check_unprotected(session, project, name, alias, approval, f"{number}")
    _, version = versions.get(session, project, name, number)
    if version.status != VersionStatus.READY.value:
        raise Conflict(
            f"version {number} of '{name}' is {version.status}; only READY versions can carry an alias",
            {"resource": "model_version", "version": number, "status": version.status},
        )
    current = session.get(ModelAlias, (model.id, alias))
    previous: int | None = None
    if current is not None and current.version_id == version.id:
        return model, version
    gate = promotion_details(session, store, actor, project, model, version, alias)
    if current is not None:
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
    extra = ({"approval": approval} if approval is not None else {}) | gate
    models.event(
        session, actor, "model_alias.set", model, alias=alias, from_version=previous, to_version=number, **extra
    )
    return model, version


def delete_alias(
    session: Session, actor: Actor, project: Project, name: str, alias: str, *, approval: int | None = None
) -> None:
    """Remove ``@alias`` from ``name``; a protected alias only with an ``approval``."""
    model = models.get_for_update(session, project, name)
    _check_unprotected(session, project, name, alias, approval, "--delete")
    current = session.get(ModelAlias, (model.id, alias))
    if current is None:
        raise NotFound(f"registered model '{name}' has no alias @{alias}", {"resource": "model_alias", "alias": alias})
    previous = session.scalar(select(ModelVersion.version).where(ModelVersion.id == current.version_id))
    session.delete(current)
    session.add(
        ModelAliasChange(model_id=model.id, alias=alias, from_version=previous, to_version=None, actor=actor.name)
    )
    session.flush()
    extra = {"approval": approval} if approval is not None else {}
    models.event(session, actor, "model_alias.delete", model, alias=alias, from_version=previous, **extra)


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


# -- protection -----------------------------------------------------------------------
def is_protected(session: Session, project: Project, alias: str) -> bool:
    return session.get(ProtectedAlias, (project.id, alias)) is not None


def _check_unprotected(
    session: Session, project: Project, name: str, alias: str, approval: int | None, target: str
) -> None:
    if approval is not None or not is_protected(session, project, alias):
        return
    raise Conflict(
        f"alias @{alias} is protected in project '{project.name}': it moves only through an approved request; "
        "request the change and have another maintainer approve it",
        {
            "resource": "model_alias",
            "name": name,
            "alias": alias,
            "reason": "protected_alias",
            "fix": f"shipyard models request-alias {name} {alias} {target} --comment '<why>'",
        },
    )


def protect(session: Session, actor: Actor, project: Project, alias: str) -> tuple[ProtectedAlias, bool]:
    """Protect ``alias`` in every model of the project; idempotent. Returns the entry and
    whether it was new (only a new one is recorded)."""
    check_alias(alias)
    current = session.get(ProtectedAlias, (project.id, alias))
    if current is not None:
        return current, False
    row = ProtectedAlias(project_id=project.id, alias=alias, created_by=actor.name)
    session.add(row)
    session.flush()
    _protection_event(session, actor, "model_alias.protect", project, alias)
    return row, True


def unprotect(session: Session, actor: Actor, project: Project, alias: str) -> None:
    current = session.get(ProtectedAlias, (project.id, alias))
    if current is None:
        raise NotFound(
            f"alias @{alias} is not protected in project '{project.name}'",
            {"resource": "protected_alias", "alias": alias},
        )
    session.delete(current)
    session.flush()
    _protection_event(session, actor, "model_alias.unprotect", project, alias)


def list_protected(
    session: Session, project: Project, *, page_token: str | None, page_size: int
) -> Page[ProtectedAlias]:
    return paginate(
        session,
        select(ProtectedAlias).where(ProtectedAlias.project_id == project.id),
        [ProtectedAlias.alias],
        scope=f"protected-aliases:{project.id}",
        page_token=page_token,
        page_size=page_size,
        key_of=lambda p: [p.alias],
    )


def _protection_event(session: Session, actor: Actor, action: str, project: Project, alias: str) -> None:
    events.record(
        session, actor, action, project_id=project.id, object_type="protected_alias", object_id=alias, details={}
    )
