"""Monitoring: feedback (ground-truth labels) for an endpoint's predictions; monitors, runs, results, reports."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Body, Depends, Query, Response, status
from fastapi.responses import HTMLResponse

from shipyard.monitoring import service as monitors
from shipyard.monitoring.feedback import FeedbackItem, FeedbackResult, record_feedback
from shipyard.monitoring.logstore import LogStore
from shipyard.monitoring.schemas import (
    MonitorIn,
    MonitorList,
    MonitorOut,
    MonitorResultList,
    MonitorResultOut,
    RunDueOut,
)
from shipyard.projects import service as projects
from shipyard.server.authz import authorize
from shipyard.server.deps import CurrentActor, Paging, ReadSession, State, WriteSession

router = APIRouter(prefix="/api/v1/projects/{project}", tags=["monitoring"])


@router.post(
    "/endpoints/{name}/feedback",
    dependencies=[Depends(authorize("monitor.feedback"))],
    response_model=FeedbackResult,
    summary="Send ground-truth labels for an endpoint's predictions (by request id or user key)",
)
def send_feedback(
    project: str,
    name: str,
    session: ReadSession,
    state: State,
    actor: CurrentActor,
    body: list[FeedbackItem] = Body(description="Labels: {request_id | key, label, row?, ts?} each."),  # noqa: B008
) -> FeedbackResult:
    p = projects.get_by_name(session, project)
    return record_feedback(LogStore.from_settings(state.settings), p.name, name, body, sender=actor.name)


@router.get("/monitors", dependencies=[Depends(authorize("monitor.read"))], response_model=MonitorList)
def list_monitors(project: str, session: ReadSession, paging: Paging) -> MonitorList:
    p = projects.get_by_name(session, project)
    page = monitors.list_monitors(session, p, page_token=paging.page_token, page_size=paging.page_size)
    return MonitorList(monitors=[monitors.monitor_out(p, m) for m in page.items], next_page_token=page.next_page_token)


@router.post(
    "/monitors",
    dependencies=[Depends(authorize("monitor.write"))],
    status_code=status.HTTP_201_CREATED,
    response_model=MonitorOut,
    summary="Create a monitor",
)
def create_monitor(project: str, body: MonitorIn, session: WriteSession, actor: CurrentActor) -> MonitorOut:
    p = projects.get_by_name(session, project)
    return monitors.monitor_out(p, monitors.create(session, actor, p, body))


@router.post(
    "/monitors/run-due",
    dependencies=[Depends(authorize("monitor.write"))],
    response_model=RunDueOut,
    summary="Run the project's monitors whose schedule is due now",
)
def run_due(project: str, session: WriteSession, state: State) -> RunDueOut:
    p = projects.get_by_name(session, project)
    done = monitors.run_due(session, datetime.now(UTC), LogStore.from_settings(state.settings), project=p)
    return RunDueOut(results=[monitors.result_out(m, r) for m, r in done])


@router.get("/monitors/{name}", dependencies=[Depends(authorize("monitor.read"))], response_model=MonitorOut)
def get_monitor(project: str, name: str, session: ReadSession) -> MonitorOut:
    p = projects.get_by_name(session, project)
    return monitors.monitor_out(p, monitors.get(session, p, name))


@router.delete(
    "/monitors/{name}", dependencies=[Depends(authorize("monitor.write"))], status_code=status.HTTP_204_NO_CONTENT
)
def delete_monitor(project: str, name: str, session: WriteSession, actor: CurrentActor) -> Response:
    monitors.delete(session, actor, projects.get_by_name(session, project), name)
    return Response(status_code=204)


@router.post(
    "/monitors/{name}/run",
    dependencies=[Depends(authorize("monitor.write"))],
    response_model=MonitorResultOut,
    summary="Run a monitor now over its window; the result is stored and returned",
)
def run_monitor(project: str, name: str, session: WriteSession, state: State) -> MonitorResultOut:
    p = projects.get_by_name(session, project)
    monitor = monitors.get(session, p, name)
    result = monitors.run(session, p, monitor, LogStore.from_settings(state.settings))
    return monitors.result_out(monitor, result)


@router.get(
    "/monitors/{name}/results",
    dependencies=[Depends(authorize("monitor.read"))],
    response_model=MonitorResultList,
    summary="A monitor's results, newest first",
)
def monitor_results(project: str, name: str, session: ReadSession, paging: Paging) -> MonitorResultList:
    p = projects.get_by_name(session, project)
    monitor, page = monitors.list_results(session, p, name, page_token=paging.page_token, page_size=paging.page_size)
    return MonitorResultList(
        results=[monitors.result_out(monitor, r) for r in page.items], next_page_token=page.next_page_token
    )


@router.get(
    "/monitors/{name}/report",
    dependencies=[Depends(authorize("monitor.read"))],
    response_class=HTMLResponse,
    summary="A monitor's self-contained HTML report: distributions, drift and performance over time, slices",
)
def monitor_report(
    project: str,
    name: str,
    session: ReadSession,
    state: State,
    results: int = Query(50, description="How many of the newest results make the time series (1-1000)."),
) -> HTMLResponse:
    p = projects.get_by_name(session, project)
    return HTMLResponse(monitors.report(session, p, name, LogStore.from_settings(state.settings), results=results))
