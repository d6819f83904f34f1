"""Rules and SLOs: named specs in a project, put (create or replace), read, listed, deleted.
One implementation for both tables (reading and listing serve receivers too); each change
is an audited event."""

from __future__ import annotations

from typing import Literal, TypeVar

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.alerts.schemas import RuleOut, RuleSpec, SLOOut, SLOSpec
from shipyard.alerts.tables import AlertReceiver, AlertRule, ServiceLevelObjective
from shipyard.errors import NotFound
from shipyard.events import service as events
from shipyard.events.context import Actor
from shipyard.projects.tables import Project
from shipyard.store.pagination import Page, paginate

SpecRow = TypeVar("SpecRow", AlertRule, ServiceLevelObjective)
NamedRow = TypeVar("NamedRow", AlertRule, ServiceLevelObjective, AlertReceiver)
Outcome = Literal["created", "updated", "unchanged"]
_KIND: dict[type, str] = {AlertRule: "alert_rule", ServiceLevelObjective: "slo", AlertReceiver: "alert_receiver"}


def _dump(spec: BaseModel) -> dict[str, object]:
    return spec.model_dump(mode="json", by_alias=True)


def get(session: Session, table: type[NamedRow], project: Project, name: str) -> NamedRow:
    row = session.scalar(select(table).where(table.project_id == project.id, table.name == name))
    if row is None:
        kind = _KIND[table]
        raise NotFound(
            f"{kind.replace('_', ' ')} '{name}' does not exist in project '{project.name}'",
            {"resource": kind, "name": name},
        )
    return row


def put(
    session: Session, actor: Actor, table: type[SpecRow], project: Project, spec: RuleSpec | SLOSpec
) -> tuple[Outcome, SpecRow]:
    """Create the named spec or replace it (idempotent: the same spec is ``unchanged``)."""
    data = _dump(spec)
    row = session.scalar(select(table).where(table.project_id == project.id, table.name == spec.name))
    kind = _KIND[table]
    if row is not None and row.spec == data:
        return "unchanged", row
    outcome: Outcome = "created" if row is None else "updated"
    if row is None:
        row = table(project_id=project.id, name=spec.name, spec=data, created_by=actor.name)
        session.add(row)
    else:
        row.spec = data
    session.flush()
    events.record(
        session,
        actor,
        f"{kind}.{outcome}",
        project_id=project.id,
        object_type=kind,
        object_id=spec.name,
        details={"spec": data},
    )
    return outcome, row


def delete(session: Session, actor: Actor, table: type[SpecRow], project: Project, name: str) -> None:
    """Delete it (its alert instances and their notifications go with it)."""
    row = get(session, table, project, name)
    kind = _KIND[table]
    session.delete(row)
    session.flush()
    events.record(session, actor, f"{kind}.deleted", project_id=project.id, object_type=kind, object_id=name)


def list_page(
    session: Session, table: type[NamedRow], project: Project, *, page_token: str | None, page_size: int
) -> Page[NamedRow]:
    return paginate(
        session,
        select(table).where(table.project_id == project.id),
        [table.name],
        scope=f"{_KIND[table]}:{project.id}",
        page_token=page_token,
        page_size=page_size,
        key_of=lambda r: [r.name],
    )


def all_of(session: Session, table: type[SpecRow], project: Project) -> list[SpecRow]:
    return list(session.scalars(select(table).where(table.project_id == project.id).order_by(table.name)))


def rule_out(row: AlertRule) -> RuleOut:
    return RuleOut(
        name=row.name,
        spec=RuleSpec.model_validate(row.spec),
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def slo_out(row: ServiceLevelObjective) -> SLOOut:
    return SLOOut(
        name=row.name,
        spec=SLOSpec.model_validate(row.spec),
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


__all__ = ["Outcome", "all_of", "delete", "get", "list_page", "put", "rule_out", "slo_out"]
