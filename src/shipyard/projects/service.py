"""Project use cases. Services flush; the caller's unit of work commits."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.errors import AlreadyExists, NotFound
from shipyard.projects.schemas import ProjectCreate, ProjectUpdate
from shipyard.projects.tables import Project
from shipyard.store.pagination import Page, paginate


def not_found(name: str) -> NotFound:
    """The one answer for a project that does not exist, or that the caller may not see
    (authorization answers with this very error, so the two cannot be told apart)."""
    return NotFound(f"project '{name}' does not exist", {"resource": "project", "name": name})


def get_by_name(session: Session, name: str) -> Project:
    project = session.scalar(select(Project).where(Project.name == name))
    if project is None:
        raise not_found(name)
    return project


def create(session: Session, data: ProjectCreate) -> Project:
    if session.scalar(select(Project.id).where(Project.name == data.name)) is not None:
        raise AlreadyExists(f"project '{data.name}' already exists", {"resource": "project", "name": data.name})
    project = Project(name=data.name, description=data.description)
    session.add(project)
    session.flush()
    return project


def update(session: Session, name: str, data: ProjectUpdate) -> Project:
    project = get_by_name(session, name)
    if data.description is not None:
        project.description = data.description
    session.flush()
    return project


def list_projects(
    session: Session, *, page_token: str | None, page_size: int, only_ids: Collection[str] | None = None
) -> Page[Project]:
    """Projects by name; ``only_ids`` limits the list (to those a caller may read)."""
    stmt = select(Project) if only_ids is None else select(Project).where(Project.id.in_(list(only_ids)))
    return paginate(
        session,
        stmt,
        [Project.name],
        scope="projects",
        page_token=page_token,
        page_size=page_size,
        key_of=lambda p: [p.name],
    )
