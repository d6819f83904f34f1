from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status

from shipyard.auth import authorization
from shipyard.auth.identity import Identity
from shipyard.projects import service
from shipyard.projects.schemas import ProjectCreate, ProjectList, ProjectOut, ProjectUpdate
from shipyard.server.authz import authenticated, authorize
from shipyard.server.deps import Paging, ReadSession, WriteSession

router = APIRouter(prefix="/api/v1/projects", tags=["projects"])


@router.post(
    "",
    dependencies=[Depends(authorize("project.create"))],
    status_code=status.HTTP_201_CREATED,
    response_model=ProjectOut,
)
def create_project(body: ProjectCreate, session: WriteSession) -> ProjectOut:
    return ProjectOut.model_validate(service.create(session, body))


@router.get("", response_model=ProjectList, summary="The projects the caller may read, by name")
def list_projects(
    identity: Annotated[Identity, Depends(authenticated)], session: ReadSession, paging: Paging
) -> ProjectList:
    page = service.list_projects(
        session,
        page_token=paging.page_token,
        page_size=paging.page_size,
        only_ids=authorization.readable_project_ids(session, identity),
    )
    return ProjectList(
        projects=[ProjectOut.model_validate(p) for p in page.items], next_page_token=page.next_page_token
    )


@router.get("/{project}", dependencies=[Depends(authorize("project.read"))], response_model=ProjectOut)
def get_project(project: str, session: ReadSession) -> ProjectOut:
    return ProjectOut.model_validate(service.get_by_name(session, project))


@router.patch("/{project}", dependencies=[Depends(authorize("project.write"))], response_model=ProjectOut)
def update_project(project: str, body: ProjectUpdate, session: WriteSession) -> ProjectOut:
    return ProjectOut.model_validate(service.update(session, project, body))
