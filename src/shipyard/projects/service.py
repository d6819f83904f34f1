"""Project use cases. Services flush; the caller's unit of work commits."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.errors import AlreadyExists, NotFound
from shipyard.projects.schemas import ProjectCreate, ProjectUpdate
from shipyard.projects.tables import Project
from shipyard.store.pagination import Page, paginate


def get_by_name(session: Session, name: str) -> Project:
    project = session.scalar(select(Project).where(Project.name == name))
    if project is None:
        raise NotFound(f"project '{name}' does not exist", {"resource": "project", "name": name})
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


def list_projects(session: Session, *, page_token: str | None, page_size: int) -> Page[Project]:
    return paginate(
        session,
        select(Project),
        [Project.name],
        scope="projects",
        page_token=page_token,
        page_size=page_size,
        key_of=lambda p: [p.name],
    )
