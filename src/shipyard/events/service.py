"""Record and read events. Services call :func:`record` in the same unit of work as the
change itself, so an event exists exactly when its change was committed; it joins the
audit chain as that unit of work commits (:mod:`shipyard.audit.append`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.audit import append
from shipyard.events.context import Actor
from shipyard.events.tables import Event
from shipyard.store.base import utcnow
from shipyard.store.pagination import Page, paginate


def record(
    session: Session,
    actor: Actor,
    action: str,
    *,
    project_id: str | None,
    object_type: str,
    object_id: str,
    details: dict[str, Any] | None = None,
) -> None:
    append.stage(
        session,
        Event(
            project_id=project_id,
            at=utcnow(),
            actor=actor.name,
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            request_id=actor.request_id,
            source=actor.source,
            details=details or {},
        ),
    )


def list_events(
    session: Session,
    project_id: str,
    *,
    object_type: str | None = None,
    object_id: str | None = None,
    page_token: str | None,
    page_size: int,
) -> Page[Event]:
    stmt = select(Event).where(Event.project_id == project_id)
    if object_type:
        stmt = stmt.where(Event.object_type == object_type)
    if object_id:
        stmt = stmt.where(Event.object_id == object_id)
    return paginate(
        session,
        stmt,
        [Event.id],
        scope=f"events:{project_id}:{object_type}:{object_id}",
        page_token=page_token,
        page_size=page_size,
        key_of=lambda e: [e.id],
    )
