from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from shipyard.events import service as events
from shipyard.events.schemas import EventList, EventOut
from shipyard.projects import service as projects
from shipyard.server.authz import authorize
from shipyard.server.deps import Paging, ReadSession

router = APIRouter(prefix="/api/v1/projects/{project}/events", tags=["events"])


@router.get(
    "",
    dependencies=[Depends(authorize("audit.read"))],
    response_model=EventList,
    summary="State changes in a project, oldest first",
)
def list_events(
    project: str,
    session: ReadSession,
    paging: Paging,
    object_type: Annotated[str | None, Query()] = None,
    object_id: Annotated[str | None, Query()] = None,
) -> EventList:
    page = events.list_events(
        session,
        projects.get_by_name(session, project).id,
        object_type=object_type,
        object_id=object_id,
        page_token=paging.page_token,
        page_size=paging.page_size,
    )
    return EventList(events=[EventOut.model_validate(e) for e in page.items], next_page_token=page.next_page_token)
