"""Who holds which role in a project."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response, status

from shipyard.auth import service
from shipyard.auth.schemas import MemberList, MemberOut, MemberSet
from shipyard.projects import service as projects
from shipyard.server.authz import authorize
from shipyard.server.deps import CurrentActor, Paging, ReadSession, WriteSession

router = APIRouter(prefix="/api/v1/projects/{project}/members", tags=["identity"])


@router.get("", response_model=MemberList, dependencies=[Depends(authorize("project.read"))])
def list_members(project: str, session: ReadSession, paging: Paging) -> MemberList:
    page = service.list_members(
        session, projects.get_by_name(session, project), page_token=paging.page_token, page_size=paging.page_size
    )
    return MemberList(members=page.items, next_page_token=page.next_page_token)


@router.put(
    "/{principal}",
    response_model=MemberOut,
    dependencies=[Depends(authorize("project.admin"))],
    summary="Give a user or service account a role in the project (replaces its previous role)",
)
def set_member(project: str, principal: str, body: MemberSet, session: WriteSession, actor: CurrentActor) -> MemberOut:
    return service.set_member(session, actor, projects.get_by_name(session, project), principal, body.role)


@router.delete(
    "/{principal}", status_code=status.HTTP_204_NO_CONTENT, dependencies=[Depends(authorize("project.admin"))]
)
def remove_member(project: str, principal: str, session: WriteSession, actor: CurrentActor) -> Response:
    service.remove_member(session, actor, projects.get_by_name(session, project), principal)
    return Response(status_code=204)
