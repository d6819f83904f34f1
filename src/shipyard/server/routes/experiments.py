from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from shipyard.projects import service as projects
from shipyard.server.authz import authorize
from shipyard.server.deps import CurrentActor, Paging, ReadSession, WriteSession
from shipyard.tracking import experiments
from shipyard.tracking.schemas import ExperimentCreate, ExperimentList, ExperimentOut, ExperimentUpdate, TagValueIn

router = APIRouter(prefix="/api/v1/projects/{project}/experiments", tags=["experiments"])


@router.post(
    "",
    dependencies=[Depends(authorize("tracking.write"))],
    status_code=status.HTTP_201_CREATED,
    response_model=ExperimentOut,
)
def create_experiment(
    project: str, body: ExperimentCreate, session: WriteSession, actor: CurrentActor
) -> ExperimentOut:
    exp = experiments.create(session, actor, projects.get_by_name(session, project), body)
    return experiments.to_out(session, [exp])[0]


@router.get("", dependencies=[Depends(authorize("tracking.read"))], response_model=ExperimentList)
def list_experiments(
    project: str,
    session: ReadSession,
    paging: Paging,
    view: Annotated[str, Query(description="active, archived or all")] = "active",
    name_like: Annotated[str | None, Query(description="Case-insensitive SQL LIKE pattern on the name.")] = None,
) -> ExperimentList:
    page = experiments.list_experiments(
        session,
        projects.get_by_name(session, project),
        view=view,
        name_like=name_like,
        page_token=paging.page_token,
        page_size=paging.page_size,
    )
    return ExperimentList(experiments=experiments.to_out(session, page.items), next_page_token=page.next_page_token)


@router.get("/by-name/{name}", dependencies=[Depends(authorize("tracking.read"))], response_model=ExperimentOut)
def get_experiment_by_name(project: str, name: str, session: ReadSession) -> ExperimentOut:
    exp = experiments.get_by_name(session, projects.get_by_name(session, project), name)
    return experiments.to_out(session, [exp])[0]


@router.get("/{experiment_id}", dependencies=[Depends(authorize("tracking.read"))], response_model=ExperimentOut)
def get_experiment(project: str, experiment_id: int, session: ReadSession) -> ExperimentOut:
    exp = experiments.get(session, projects.get_by_name(session, project), experiment_id)
    return experiments.to_out(session, [exp])[0]


@router.patch("/{experiment_id}", dependencies=[Depends(authorize("tracking.write"))], response_model=ExperimentOut)
def update_experiment(
    project: str, experiment_id: int, body: ExperimentUpdate, session: WriteSession, actor: CurrentActor
) -> ExperimentOut:
    exp = experiments.update(session, actor, projects.get_by_name(session, project), experiment_id, body)
    return experiments.to_out(session, [exp])[0]


@router.post(
    "/{experiment_id}/archive", dependencies=[Depends(authorize("tracking.write"))], response_model=ExperimentOut
)
def archive_experiment(project: str, experiment_id: int, session: WriteSession, actor: CurrentActor) -> ExperimentOut:
    exp = experiments.set_stage(session, actor, projects.get_by_name(session, project), experiment_id, "archived")
    return experiments.to_out(session, [exp])[0]


@router.post(
    "/{experiment_id}/restore", dependencies=[Depends(authorize("tracking.write"))], response_model=ExperimentOut
)
def restore_experiment(project: str, experiment_id: int, session: WriteSession, actor: CurrentActor) -> ExperimentOut:
    exp = experiments.set_stage(session, actor, projects.get_by_name(session, project), experiment_id, "active")
    return experiments.to_out(session, [exp])[0]


@router.put(
    "/{experiment_id}/tags/{key}",
    dependencies=[Depends(authorize("tracking.write"))],
    status_code=status.HTTP_204_NO_CONTENT,
)
def set_experiment_tag(
    project: str, experiment_id: int, key: str, body: TagValueIn, session: WriteSession, actor: CurrentActor
) -> Response:
    experiments.set_tag(session, actor, projects.get_by_name(session, project), experiment_id, key, body.value)
    return Response(status_code=204)


@router.delete(
    "/{experiment_id}/tags/{key}",
    dependencies=[Depends(authorize("tracking.write"))],
    status_code=status.HTTP_204_NO_CONTENT,
)
def delete_experiment_tag(
    project: str, experiment_id: int, key: str, session: WriteSession, actor: CurrentActor
) -> Response:
    experiments.delete_tag(session, actor, projects.get_by_name(session, project), experiment_id, key)
    return Response(status_code=204)
