"""Inference endpoints: apply a spec, read, history, promote, roll back."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from shipyard.deploy import service as endpoints
from shipyard.deploy.schemas import (
    ApplyResult,
    EndpointList,
    EndpointOut,
    ObserveIn,
    PromoteIn,
    RollbackIn,
    RolloutHistory,
)
from shipyard.deploy.spec import EndpointSpec
from shipyard.errors import InvalidArgument
from shipyard.projects import service as projects
from shipyard.server.authz import authorize
from shipyard.server.deps import CurrentActor, Paging, ReadSession, WriteSession

router = APIRouter(prefix="/api/v1/projects/{project}/endpoints", tags=["endpoints"])


@router.get("", dependencies=[Depends(authorize("endpoint.read"))], response_model=EndpointList)
def list_endpoints(project: str, session: ReadSession, paging: Paging) -> EndpointList:
    p = projects.get_by_name(session, project)
    page = endpoints.list_endpoints(session, p, page_token=paging.page_token, page_size=paging.page_size)
    return EndpointList(
        endpoints=[endpoints.endpoint_out(session, p, e) for e in page.items], next_page_token=page.next_page_token
    )


@router.put(
    "/{name}",
    dependencies=[Depends(authorize("endpoint.write"))],
    response_model=ApplyResult,
    summary="Apply a spec (create or update; idempotent; dry_run shows the diff only)",
)
def apply_endpoint(
    project: str,
    name: str,
    body: EndpointSpec,
    session: WriteSession,
    actor: CurrentActor,
    dry_run: Annotated[bool, Query(description="Only compute the changes.")] = False,
) -> ApplyResult:
    if body.name != name:
        raise InvalidArgument(f"the spec's name '{body.name}' differs from the path's '{name}'", {"field": "name"})
    p = projects.get_by_name(session, project)
    outcome, changes, endpoint = endpoints.apply(session, actor, p, body, dry_run=dry_run)
    out = endpoints.endpoint_out(session, p, endpoint, with_transitions=True) if endpoint is not None else None
    return ApplyResult(outcome=outcome, dry_run=dry_run, changes=changes, endpoint=out)


@router.get("/{name}", dependencies=[Depends(authorize("endpoint.read"))], response_model=EndpointOut)
def get_endpoint(project: str, name: str, session: ReadSession) -> EndpointOut:
    p = projects.get_by_name(session, project)
    return endpoints.endpoint_out(session, p, endpoints.get(session, p, name), with_transitions=True)


@router.get(
    "/{name}/history",
    dependencies=[Depends(authorize("endpoint.read"))],
    response_model=RolloutHistory,
    summary="Revisions and their rollouts (with every transition), newest first",
)
def endpoint_history(project: str, name: str, session: ReadSession, paging: Paging) -> RolloutHistory:
    p = projects.get_by_name(session, project)
    _, page = endpoints.history(session, p, name, page_token=paging.page_token, page_size=paging.page_size)
    transitions = endpoints.transitions_of(session, page.items)
    return RolloutHistory(
        rollouts=[endpoints.rollout_out(r, transitions[r.id]) for r in page.items],
        next_page_token=page.next_page_token,
    )


@router.post(
    "/{name}/rollback",
    dependencies=[Depends(authorize("endpoint.write"))],
    response_model=EndpointOut,
    summary="Abort the running rollout, or return to the previous stable routes",
)
def rollback_endpoint(
    project: str, name: str, body: RollbackIn, session: WriteSession, actor: CurrentActor
) -> EndpointOut:
    p = projects.get_by_name(session, project)
    endpoint = endpoints.rollback(session, actor, p, name, reason=body.reason)
    return endpoints.endpoint_out(session, p, endpoint, with_transitions=True)


@router.post(
    "/{name}/promote",
    dependencies=[Depends(authorize("endpoint.write"))],
    response_model=EndpointOut,
    summary="Resume the running rollout past its pause or analysis (full: skip every step)",
)
def promote_endpoint(
    project: str, name: str, body: PromoteIn, session: WriteSession, actor: CurrentActor
) -> EndpointOut:
    p = projects.get_by_name(session, project)
    endpoint = endpoints.promote(session, actor, p, name, full=body.full)
    return endpoints.endpoint_out(session, p, endpoint, with_transitions=True)


@router.post(
    "/{name}/observe",
    dependencies=[Depends(authorize("endpoint.write"))],
    response_model=EndpointOut,
    summary="The controller's report: readiness of the new routes and the analysis verdict",
)
def observe_endpoint(
    project: str, name: str, body: ObserveIn, session: WriteSession, actor: CurrentActor
) -> EndpointOut:
    p = projects.get_by_name(session, project)
    endpoint, _ = endpoints.observe(
        session, actor, p, name, revision=body.revision, ready=body.ready, analysis=body.analysis
    )
    return endpoints.endpoint_out(session, p, endpoint, with_transitions=True)
