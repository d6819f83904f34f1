"""The audit log (organisation-wide): entries, the head, checkpoints, the public key,
and server-side verification. Every route needs ``audit.read``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response, status

from shipyard.audit import service as audit
from shipyard.audit.schemas import (
    AuditEntryList,
    CheckpointIssued,
    CheckpointList,
    HeadOut,
    PublicKeys,
    VerifyReport,
)
from shipyard.projects import service as projects
from shipyard.server.authz import authorize
from shipyard.server.deps import Paging, ReadSession, State, WriteSession

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
AUDIT_READ = [Depends(authorize("audit.read"))]


@router.get(
    "/entries", response_model=AuditEntryList, dependencies=AUDIT_READ, summary="Audit log entries, by chain position"
)
def list_entries(
    session: ReadSession,
    paging: Paging,
    project: Annotated[str | None, Query(description="Only this project's entries (by name).")] = None,
    actor: Annotated[str | None, Query()] = None,
    action: Annotated[str | None, Query(description="e.g. run.create, access.denied")] = None,
    object_type: Annotated[str | None, Query()] = None,
    object_id: Annotated[str | None, Query()] = None,
    since: Annotated[datetime | None, Query(description="Recorded at or after (ISO 8601 with zone).")] = None,
    until: Annotated[datetime | None, Query(description="Recorded at or before (ISO 8601 with zone).")] = None,
    from_seq: Annotated[int | None, Query(ge=1)] = None,
    to_seq: Annotated[int | None, Query(ge=1)] = None,
    order: Annotated[Literal["asc", "desc"], Query(description="asc: oldest first; desc: newest first.")] = "asc",
) -> AuditEntryList:
    where = audit.EntryFilter(
        project_id=projects.get_by_name(session, project).id if project else None,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        since=since,
        until=until,
        from_seq=from_seq,
        to_seq=to_seq,
        newest_first=order == "desc",
    )
    page = audit.list_entries(session, where, page_token=paging.page_token, page_size=paging.page_size)
    return AuditEntryList(entries=page.items, next_page_token=page.next_page_token)


@router.get("/head", response_model=HeadOut, dependencies=AUDIT_READ, summary="The newest entry of the chain")
def get_head(session: ReadSession, state: State) -> HeadOut:
    return audit.head(session, state.notary)


@router.get(
    "/verify",
    response_model=VerifyReport,
    dependencies=AUDIT_READ,
    summary="Verify the whole chain and every checkpoint on the server (200 either way: see ok)",
)
def verify(session: ReadSession, state: State) -> VerifyReport:
    return audit.verify(session, state.notary)


@router.get("/checkpoints", response_model=CheckpointList, dependencies=AUDIT_READ, summary="Signed checkpoints")
def list_checkpoints(session: ReadSession, paging: Paging) -> CheckpointList:
    page = audit.list_checkpoints(session, page_token=paging.page_token, page_size=paging.page_size)
    return CheckpointList(checkpoints=page.items, next_page_token=page.next_page_token)


@router.post(
    "/checkpoints",
    response_model=CheckpointIssued,
    status_code=status.HTTP_201_CREATED,
    dependencies=AUDIT_READ,
    summary="Sign the current head now (200 with created=false if it is already signed)",
)
def create_checkpoint(session: WriteSession, state: State, response: Response) -> CheckpointIssued:
    issued = audit.issue_checkpoint(session, state.notary)
    if not issued.created:
        response.status_code = status.HTTP_200_OK
    return issued


@router.get(
    "/public-key", response_model=PublicKeys, dependencies=AUDIT_READ, summary="Public keys that verify checkpoints"
)
def public_key(state: State) -> PublicKeys:
    return audit.public_keys(state.notary)
