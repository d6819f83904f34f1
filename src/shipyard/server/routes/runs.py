from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status

from shipyard.projects import service as projects
from shipyard.server.authz import authorize
from shipyard.server.deps import CurrentActor, Paging, ReadSession, WriteSession, get_state
from shipyard.store.pagination import check_page_size
from shipyard.tracking import artifacts, compare, history, inputs, logging, runs, search
from shipyard.tracking.schemas import (
    ArtifactList,
    ArtifactOut,
    CompareRequest,
    LogArtifacts,
    LogBatch,
    LogBatchResult,
    LogInputs,
    MetricHistory,
    RunComparison,
    RunCreate,
    RunList,
    RunOut,
    RunSearch,
    RunUpdate,
)

router = APIRouter(prefix="/api/v1/projects/{project}/runs", tags=["runs"])


@router.post(
    "", dependencies=[Depends(authorize("tracking.write"))], status_code=status.HTTP_201_CREATED, response_model=RunOut
)
def create_run(project: str, body: RunCreate, session: WriteSession, actor: CurrentActor) -> RunOut:
    run = runs.create(session, actor, projects.get_by_name(session, project), body)
    return runs.to_out(session, [run])[0]


@router.post(
    "/search",
    dependencies=[Depends(authorize("tracking.read"))],
    response_model=RunList,
    summary="Search runs with a filter (AND/OR/parentheses), order_by and cursor paging",
)
def search_runs(project: str, body: RunSearch, request: Request, session: ReadSession) -> RunList:
    settings = get_state(request).settings.server
    size = check_page_size(body.max_results, settings.default_page_size, settings.max_page_size)
    page = search.search_runs(
        session,
        project_id=projects.get_by_name(session, project).id,
        experiment_ids=body.experiment_ids,
        filter=body.filter,
        order_by=body.order_by,
        view=body.view,
        page_token=body.page_token,
        page_size=size,
    )
    return RunList(runs=runs.to_out(session, page.items), next_page_token=page.next_page_token)


@router.get("/{run_id}", dependencies=[Depends(authorize("tracking.read"))], response_model=RunOut)
def get_run(project: str, run_id: str, session: ReadSession) -> RunOut:
    return runs.to_out(session, [runs.get(session, projects.get_by_name(session, project), run_id)])[0]


@router.patch("/{run_id}", dependencies=[Depends(authorize("tracking.write"))], response_model=RunOut)
def update_run(project: str, run_id: str, body: RunUpdate, session: WriteSession, actor: CurrentActor) -> RunOut:
    run = runs.update(session, actor, projects.get_by_name(session, project), run_id, body)
    return runs.to_out(session, [run])[0]


@router.post(
    "/{run_id}/delete",
    dependencies=[Depends(authorize("tracking.write"))],
    response_model=RunOut,
    summary="Soft-delete a run (restorable)",
)
def delete_run(project: str, run_id: str, session: WriteSession, actor: CurrentActor) -> RunOut:
    run = runs.set_stage(session, actor, projects.get_by_name(session, project), run_id, "deleted")
    return runs.to_out(session, [run])[0]


@router.post("/{run_id}/restore", dependencies=[Depends(authorize("tracking.write"))], response_model=RunOut)
def restore_run(project: str, run_id: str, session: WriteSession, actor: CurrentActor) -> RunOut:
    run = runs.set_stage(session, actor, projects.get_by_name(session, project), run_id, "active")
    return runs.to_out(session, [run])[0]


@router.post(
    "/{run_id}/log-batch",
    dependencies=[Depends(authorize("tracking.write"))],
    response_model=LogBatchResult,
    summary="Log metrics, params and tags in one request (up to 50,000 metric points)",
)
def log_batch(project: str, run_id: str, body: LogBatch, session: WriteSession, actor: CurrentActor) -> LogBatchResult:
    return logging.log_batch(session, actor, projects.get_by_name(session, project), run_id, body)


@router.post(
    "/{run_id}/inputs",
    dependencies=[Depends(authorize("tracking.write"))],
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Record dataset inputs of a run",
)
def log_inputs(project: str, run_id: str, body: LogInputs, session: WriteSession, actor: CurrentActor) -> None:
    inputs.log_inputs(session, actor, projects.get_by_name(session, project), run_id, body)


@router.get(
    "/{run_id}/metrics/{key}/history", dependencies=[Depends(authorize("tracking.read"))], response_model=MetricHistory
)
def metric_history(
    project: str,
    run_id: str,
    key: str,
    session: ReadSession,
    max_points: Annotated[int, Query(description="Downsample above this many points (1 to 25,000).")] = 1000,
    start_step: int | None = None,
    end_step: int | None = None,
) -> MetricHistory:
    return history.history(
        session,
        projects.get_by_name(session, project),
        run_id,
        key,
        max_points=max_points,
        start_step=start_step,
        end_step=end_step,
    )


@router.post(
    "/compare",
    dependencies=[Depends(authorize("tracking.read"))],
    response_model=RunComparison,
    summary="Runs side by side",
)
def compare_runs(project: str, body: CompareRequest, session: ReadSession) -> RunComparison:
    return compare.compare(session, projects.get_by_name(session, project), body.run_ids, body.metric_keys)


@router.post(
    "/{run_id}/artifacts",
    dependencies=[Depends(authorize("tracking.write"))],
    response_model=list[ArtifactOut],
    summary="Record uploaded blobs as run files",
)
def log_artifacts(
    project: str, run_id: str, body: LogArtifacts, session: WriteSession, actor: CurrentActor
) -> list[ArtifactOut]:
    rows = artifacts.log_artifacts(session, actor, projects.get_by_name(session, project), run_id, body)
    return [ArtifactOut.model_validate(a) for a in rows]


@router.get("/{run_id}/artifacts", dependencies=[Depends(authorize("tracking.read"))], response_model=ArtifactList)
def list_artifacts(
    project: str,
    run_id: str,
    session: ReadSession,
    paging: Paging,
    prefix: Annotated[str | None, Query(description="Only files under this directory.")] = None,
) -> ArtifactList:
    page = artifacts.list_artifacts(
        session,
        projects.get_by_name(session, project),
        run_id,
        prefix=prefix,
        page_token=paging.page_token,
        page_size=paging.page_size,
    )
    return ArtifactList(
        root=f"runs:/{run_id}/{prefix or ''}".rstrip("/"),
        files=[ArtifactOut.model_validate(a) for a in page.items],
        next_page_token=page.next_page_token,
    )
