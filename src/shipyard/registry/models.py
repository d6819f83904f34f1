"""Registered model use cases. Soft deletion and archival are both restorable."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from shipyard.events import service as events
from shipyard.events.context import Actor
from shipyard.projects.tables import Project
from shipyard.registry.guards import deletion_blockers
from shipyard.registry.schemas import RegisteredModelCreate, RegisteredModelUpdate
from shipyard.registry.tables import ModelAlias, ModelTag, RegisteredModel
from shipyard.store.base import utcnow
from shipyard.store.pagination import Page, paginate
from shipyard.store.tags import put_tag, remove_tag

VIEWS = ("active", "archived", "deleted", "all")


def event(session: Session, actor: Actor, action: str, model: RegisteredModel, **details: object) -> None:
    events.record(
        session,
        actor,
        action,
        project_id=model.project_id,
        object_type="registered_model",
        object_id=model.name,
        details=details,
    )


def get(session: Session, project: Project, name: str, *, include_deleted: bool = False) -> RegisteredModel:
    model = session.scalar(
        select(RegisteredModel).where(RegisteredModel.project_id == project.id, RegisteredModel.name == name)
    )
    if model is None or (model.deleted_at is not None and not include_deleted):
        raise NotFound(
            f"registered model '{name}' does not exist in project '{project.name}'",
            {"resource": "registered_model", "name": name},
        )
    return model


def get_for_update(session: Session, project: Project, name: str) -> RegisteredModel:
    """The model row, locked until the transaction ends (PostgreSQL ``FOR UPDATE``;
    SQLite's write transactions are already exclusive)."""
    model = session.scalar(
        select(RegisteredModel)
        .where(RegisteredModel.project_id == project.id, RegisteredModel.name == name)
        .with_for_update()
    )
    if model is None or model.deleted_at is not None:
        raise NotFound(
            f"registered model '{name}' does not exist in project '{project.name}'",
            {"resource": "registered_model", "name": name},
        )
    return model


def create(session: Session, actor: Actor, project: Project, data: RegisteredModelCreate) -> RegisteredModel:
    existing = session.scalar(
        select(RegisteredModel).where(RegisteredModel.project_id == project.id, RegisteredModel.name == data.name)
    )
    if existing is not None:
        state = " (deleted; restore it instead)" if existing.deleted_at else ""
        raise AlreadyExists(
            f"registered model '{data.name}' already exists{state}",
            {"resource": "registered_model", "name": data.name},
        )
    model = RegisteredModel(project_id=project.id, name=data.name, description=data.description)
    session.add(model)
    session.flush()
    for key, value in data.tags.items():
        session.add(ModelTag(model_id=model.id, key=key, value=value))
    event(session, actor, "registered_model.create", model)
    session.flush()
    return model


def update(session: Session, actor: Actor, project: Project, name: str, data: RegisteredModelUpdate) -> RegisteredModel:
    model = get(session, project, name)
    if data.description is not None:
        model.description = data.description
        session.flush()
        event(session, actor, "registered_model.update", model, description=True)
    return model


def archive(session: Session, actor: Actor, project: Project, name: str) -> RegisteredModel:
    model = get(session, project, name)
    if model.archived_at is None:
        model.archived_at = utcnow()
        session.flush()
        event(session, actor, "registered_model.archive", model)
    return model


def delete_model(session: Session, actor: Actor, project: Project, name: str) -> RegisteredModel:
    model = get(session, project, name)
    blockers = deletion_blockers(session, model_id=model.id)
    aliases = session.scalars(select(ModelAlias.alias).where(ModelAlias.model_id == model.id)).all()
    if aliases:
        blockers.append(f"aliases {', '.join('@' + a for a in sorted(aliases))} point at its versions")
    if blockers:
        raise Conflict(
            f"registered model '{name}' cannot be deleted: {'; '.join(blockers)}",
            {"resource": "registered_model", "name": name, "blockers": blockers},
        )
    model.deleted_at = utcnow()
    session.flush()
    event(session, actor, "registered_model.delete", model)
    return model


def restore(session: Session, actor: Actor, project: Project, name: str) -> RegisteredModel:
    model = get(session, project, name, include_deleted=True)
    if model.deleted_at is not None or model.archived_at is not None:
        model.deleted_at = None
        model.archived_at = None
        session.flush()
        event(session, actor, "registered_model.restore", model)
    return model


def set_tag(session: Session, actor: Actor, project: Project, name: str, key: str, value: str) -> None:
    model = get(session, project, name)
    put_tag(session, ModelTag.__table__, {"model_id": model.id}, key, value)  # type: ignore[arg-type]
    event(session, actor, "registered_model.set_tag", model, key=key)


def delete_tag(session: Session, actor: Actor, project: Project, name: str, key: str) -> None:
    model = get(session, project, name)
    if not remove_tag(session, ModelTag.__table__, {"model_id": model.id}, key):  # type: ignore[arg-type]
        raise NotFound(f"registered model '{name}' has no tag '{key}'", {"resource": "model_tag", "key": key})
    event(session, actor, "registered_model.delete_tag", model, key=key)


def list_models(
    session: Session,
    project: Project,
    *,
    view: str = "active",
    name_like: str | None = None,
    page_token: str | None,
    page_size: int,
) -> Page[RegisteredModel]:
    if view not in VIEWS:
        raise InvalidArgument(f"view must be one of {', '.join(VIEWS)}", {"field": "view"})
    stmt = select(RegisteredModel).where(RegisteredModel.project_id == project.id)
    if view == "active":
        stmt = stmt.where(RegisteredModel.deleted_at.is_(None), RegisteredModel.archived_at.is_(None))
    elif view == "archived":
        stmt = stmt.where(RegisteredModel.deleted_at.is_(None), RegisteredModel.archived_at.is_not(None))
    elif view == "deleted":
        stmt = stmt.where(RegisteredModel.deleted_at.is_not(None))
    if name_like:
        stmt = stmt.where(RegisteredModel.name.ilike(name_like))
    return paginate(
        session,
        stmt,
        [RegisteredModel.name],
        scope=f"models:{project.id}:{view}:{name_like}",
        page_token=page_token,
        page_size=page_size,
        key_of=lambda m: [m.name],
    )
