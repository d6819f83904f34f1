"""Protected aliases and four-eyes change requests (rules in shipyard.registry.approvals)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from shipyard.projects import service as projects
from shipyard.registry import aliases, approvals, views
from shipyard.registry.schemas import (
    AliasDecision,
    AliasRequestCreate,
    AliasRequestList,
    AliasRequestOut,
    ProtectedAliasList,
    ProtectedAliasOut,
)
from shipyard.registry.tables import AliasChangeRequest
from shipyard.server.authz import authorize
from shipyard.server.deps import CurrentActor, Paging, ReadSession, State, WriteSession

router = APIRouter(prefix="/api/v1/projects/{project}", tags=["registry"])


def _one(session: ReadSession | WriteSession, row: AliasChangeRequest) -> AliasRequestOut:
    return views.request_out(session, [row])[0]


@router.get(
    "/protected-aliases",
    dependencies=[Depends(authorize("registry.read"))],
    response_model=ProtectedAliasList,
    summary="Alias names that move only through an approved request",
)
def list_protected_aliases(project: str, session: ReadSession, paging: Paging) -> ProtectedAliasList:
    page = aliases.list_protected(
        session, projects.get_by_name(session, project), page_token=paging.page_token, page_size=paging.page_size
    )
    return ProtectedAliasList(
        aliases=[ProtectedAliasOut.model_validate(p) for p in page.items], next_page_token=page.next_page_token
    )


@router.put(
    "/protected-aliases/{alias}",
    dependencies=[Depends(authorize("registry.protect"))],
    response_model=ProtectedAliasOut,
    summary="Protect an alias name in every model of the project (idempotent)",
)
def protect_alias(project: str, alias: str, session: WriteSession, actor: CurrentActor) -> ProtectedAliasOut:
    row, _ = aliases.protect(session, actor, projects.get_by_name(session, project), alias)
    return ProtectedAliasOut.model_validate(row)


@router.delete(
    "/protected-aliases/{alias}",
    dependencies=[Depends(authorize("registry.protect"))],
    status_code=status.HTTP_204_NO_CONTENT,
)
def unprotect_alias(project: str, alias: str, session: WriteSession, actor: CurrentActor) -> Response:
    aliases.unprotect(session, actor, projects.get_by_name(session, project), alias)
    return Response(status_code=204)


@router.post(
    "/alias-requests",
    dependencies=[Depends(authorize("registry.write"))],
    status_code=status.HTTP_201_CREATED,
    response_model=AliasRequestOut,
    summary="Request a change to a protected alias",
)
def create_request(
    project: str, body: AliasRequestCreate, session: WriteSession, actor: CurrentActor
) -> AliasRequestOut:
    return _one(session, approvals.create(session, actor, projects.get_by_name(session, project), body))


@router.get("/alias-requests", dependencies=[Depends(authorize("registry.read"))], response_model=AliasRequestList)
def list_requests(
    project: str,
    session: ReadSession,
    paging: Paging,
    status: Annotated[str | None, Query(description="pending, approved, rejected or cancelled")] = None,
    model: Annotated[str | None, Query(description="Only this registered model's requests.")] = None,
    alias: Annotated[str | None, Query(description="Only requests for this alias.")] = None,
) -> AliasRequestList:
    page = approvals.list_requests(
        session,
        projects.get_by_name(session, project),
        status=status,
        model=model,
        alias=alias,
        page_token=paging.page_token,
        page_size=paging.page_size,
    )
    return AliasRequestList(requests=views.request_out(session, page.items), next_page_token=page.next_page_token)


@router.get(
    "/alias-requests/{request_id}", dependencies=[Depends(authorize("registry.read"))], response_model=AliasRequestOut
)
def get_request(project: str, request_id: int, session: ReadSession) -> AliasRequestOut:
    return _one(session, approvals.get(session, projects.get_by_name(session, project), request_id))


@router.post(
    "/alias-requests/{request_id}/approve",
    dependencies=[Depends(authorize("registry.approve"))],
    response_model=AliasRequestOut,
    summary="Approve (not your own request) and apply the change",
)
def approve_request(
    project: str, request_id: int, body: AliasDecision, session: WriteSession, actor: CurrentActor, state: State
) -> AliasRequestOut:
    p = projects.get_by_name(session, project)
    return _one(session, approvals.approve(session, actor, p, request_id, body.comment, store=state.blobs))


@router.post(
    "/alias-requests/{request_id}/reject",
    dependencies=[Depends(authorize("registry.approve"))],
    response_model=AliasRequestOut,
    summary="Reject (not your own request)",
)
def reject_request(
    project: str, request_id: int, body: AliasDecision, session: WriteSession, actor: CurrentActor
) -> AliasRequestOut:
    p = projects.get_by_name(session, project)
    return _one(session, approvals.reject(session, actor, p, request_id, body.comment))


@router.post(
    "/alias-requests/{request_id}/cancel",
    dependencies=[Depends(authorize("registry.write"))],
    response_model=AliasRequestOut,
    summary="Withdraw your own pending request",
)
def cancel_request(
    project: str, request_id: int, session: WriteSession, actor: CurrentActor, body: AliasDecision | None = None
) -> AliasRequestOut:
    p = projects.get_by_name(session, project)
    return _one(session, approvals.cancel(session, actor, p, request_id, body.comment if body else ""))
