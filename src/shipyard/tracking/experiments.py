"""Experiment use cases. Services flush; the caller's unit of work commits."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from shipyard.events import service as events
from shipyard.events.context import Actor
from shipyard.projects.tables import Project
from shipyard.store.pagination import Page, paginate
from shipyard.store.tags import put_tag, remove_tag
from shipyard.tracking.schemas import ExperimentCreate, ExperimentOut, ExperimentUpdate
from shipyard.tracking.tables import Experiment, ExperimentTag

DEFAULT_EXPERIMENT = "Default"
VIEWS = ("active", "archived", "all")


def _event(session: Session, actor: Actor, action: str, exp: Experiment, **details: object) -> None:
    events.record(
        session,
        actor,
        action,
        project_id=exp.project_id,
        object_type="experiment",
        object_id=str(exp.id),
        details={"name": exp.name, **details},
    )


def get(session: Session, project: Project, experiment_id: int) -> Experiment:
    exp = session.get(Experiment, experiment_id)
    if exp is None or exp.project_id != project.id:
        raise NotFound(
            f"experiment {experiment_id} does not exist in project '{project.name}'",
            {"resource": "experiment", "id": experiment_id},
        )
    return exp


def get_by_name(session: Session, project: Project, name: str) -> Experiment:
    exp = session.scalar(select(Experiment).where(Experiment.project_id == project.id, Experiment.name == name))
    if exp is None:
        raise NotFound(
            f"experiment '{name}' does not exist in project '{project.name}'",
            {"resource": "experiment", "name": name},
        )
    return exp


def _check_name_free(session: Session, project: Project, name: str) -> None:
    taken = session.scalar(select(Experiment.id).where(Experiment.project_id == project.id, Experiment.name == name))
    if taken is not None:
        raise AlreadyExists(
            f"experiment '{name}' already exists in project '{project.name}' (id {taken})",
            {"resource": "experiment", "name": name, "id": taken},
        )


def create(session: Session, actor: Actor, project: Project, data: ExperimentCreate) -> Experiment:
    _check_name_free(session, project, data.name)
    exp = Experiment(project_id=project.id, name=data.name, description=data.description)
    session.add(exp)
    session.flush()
    for key, value in data.tags.items():
        session.add(ExperimentTag(experiment_id=exp.id, key=key, value=value))
    _event(session, actor, "experiment.create", exp)
    session.flush()
    return exp


def default_for(session: Session, actor: Actor, project: Project) -> Experiment:
    """The project's 'Default' experiment, created on first use."""
    exp = session.scalar(
        select(Experiment).where(Experiment.project_id == project.id, Experiment.name == DEFAULT_EXPERIMENT)
    )
    if exp is not None:
        return exp
    return create(session, actor, project, ExperimentCreate(name=DEFAULT_EXPERIMENT))


def update(session: Session, actor: Actor, project: Project, experiment_id: int, data: ExperimentUpdate) -> Experiment:
    exp = get(session, project, experiment_id)
    changes: dict[str, object] = {}
    if data.name is not None and data.name != exp.name:
        _check_name_free(session, project, data.name)
        changes["from_name"] = exp.name
        exp.name = data.name
    if data.description is not None:
        exp.description = data.description
        changes["description"] = True
    session.flush()
    _event(session, actor, "experiment.update", exp, **changes)
    return exp


def set_stage(session: Session, actor: Actor, project: Project, experiment_id: int, stage: str) -> Experiment:
    exp = get(session, project, experiment_id)
    if exp.name == DEFAULT_EXPERIMENT and stage == "archived":
        raise Conflict("the 'Default' experiment cannot be archived", {"resource": "experiment", "id": exp.id})
    if exp.lifecycle_stage != stage:
        exp.lifecycle_stage = stage
        session.flush()
        _event(session, actor, "experiment.archive" if stage == "archived" else "experiment.restore", exp)
    return exp


def require_active(exp: Experiment) -> None:
    if exp.lifecycle_stage != "active":
        raise Conflict(
            f"experiment '{exp.name}' is archived; restore it before adding runs",
            {"resource": "experiment", "id": exp.id, "lifecycle_stage": exp.lifecycle_stage},
        )


def set_tag(session: Session, actor: Actor, project: Project, experiment_id: int, key: str, value: str) -> None:
    exp = get(session, project, experiment_id)
    put_tag(session, ExperimentTag.__table__, {"experiment_id": exp.id}, key, value)  # type: ignore[arg-type]
    _event(session, actor, "experiment.set_tag", exp, key=key)


def delete_tag(session: Session, actor: Actor, project: Project, experiment_id: int, key: str) -> None:
    exp = get(session, project, experiment_id)
    if not remove_tag(session, ExperimentTag.__table__, {"experiment_id": exp.id}, key):  # type: ignore[arg-type]
        raise NotFound(f"experiment {exp.id} has no tag '{key}'", {"resource": "experiment_tag", "key": key})
    _event(session, actor, "experiment.delete_tag", exp, key=key)


def list_experiments(
    session: Session,
    project: Project,
    *,
    view: str = "active",
    name_like: str | None = None,
    page_token: str | None,
    page_size: int,
) -> Page[Experiment]:
    if view not in VIEWS:
        raise InvalidArgument(f"view must be one of {', '.join(VIEWS)}", {"field": "view"})
    stmt = select(Experiment).where(Experiment.project_id == project.id)
    if view != "all":
        stmt = stmt.where(Experiment.lifecycle_stage == view)
    if name_like:
        stmt = stmt.where(Experiment.name.ilike(name_like))
    return paginate(
        session,
        stmt,
        [Experiment.id],
        scope=f"experiments:{project.id}:{view}:{name_like}",
        page_token=page_token,
        page_size=page_size,
        key_of=lambda e: [e.id],
    )


def to_out(session: Session, experiments: Sequence[Experiment]) -> list[ExperimentOut]:
    ids = [e.id for e in experiments]
    tags: dict[int, dict[str, str]] = {i: {} for i in ids}
    if ids:
        for tag in session.scalars(select(ExperimentTag).where(ExperimentTag.experiment_id.in_(ids))):
            tags[tag.experiment_id][tag.key] = tag.value
    return [
        ExperimentOut(
            id=e.id,
            name=e.name,
            description=e.description,
            lifecycle_stage=e.lifecycle_stage,
            tags=tags[e.id],
            created_at=e.created_at,
            updated_at=e.updated_at,
        )
        for e in experiments
    ]
