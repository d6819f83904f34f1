"""Alerting: rules, webhook receivers, SLOs, alert instances, deliveries, evaluation passes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from shipyard.alerts import queries, receivers, service, specs
from shipyard.alerts.evaluation import evaluate
from shipyard.alerts.schemas import (
    AlertList,
    DeliveryList,
    EvaluateIn,
    EvaluationOut,
    NotificationOut,
    ObservationsIn,
    ObservationsOut,
    ReceiverList,
    ReceiverOut,
    ReceiverSpec,
    RuleList,
    RuleOut,
    RuleSpec,
    SLOList,
    SLOOut,
    SLOSpec,
    SLOStatus,
)
from shipyard.alerts.tables import AlertRule, ServiceLevelObjective
from shipyard.errors import InvalidArgument
from shipyard.projects import service as projects
from shipyard.server.authz import authorize
from shipyard.server.deps import CurrentActor, Paging, ReadSession, State, WriteSession
from shipyard.store.base import utcnow

router = APIRouter(prefix="/api/v1/projects/{project}/alerts", tags=["alerts"])
READ = [Depends(authorize("monitor.read"))]
WRITE = [Depends(authorize("alerts.write"))]


def _same_name(path: str, body: str) -> None:
    if body != path:
        raise InvalidArgument(f"the body's name '{body}' differs from the path's '{path}'", {"field": "name"})


# -- alert instances and deliveries ----------------------------------------------------------
@router.get("", dependencies=READ, response_model=AlertList, summary="Alert instances, most recently changed first")
def list_alerts(
    project: str,
    session: ReadSession,
    paging: Paging,
    status: Annotated[str | None, Query(description="pending, firing, resolved or inactive")] = None,
) -> AlertList:
    p = projects.get_by_name(session, project)
    page = queries.list_alerts(session, p, status=status, page_token=paging.page_token, page_size=paging.page_size)
    return AlertList(alerts=page.items, next_page_token=page.next_page_token)


@router.get("/deliveries", dependencies=READ, response_model=DeliveryList, summary="Every delivery attempt")
def list_deliveries(
    project: str,
    session: ReadSession,
    paging: Paging,
    receiver: Annotated[str | None, Query(description="Only this receiver's.")] = None,
) -> DeliveryList:
    p = projects.get_by_name(session, project)
    page = queries.list_deliveries(
        session, p, receiver=receiver, page_token=paging.page_token, page_size=paging.page_size
    )
    return DeliveryList(deliveries=page.items, next_page_token=page.next_page_token)


@router.post(
    "/evaluate",
    dependencies=WRITE,
    response_model=EvaluationOut,
    summary="One evaluation pass: scrape, evaluate every rule and SLO, deliver notifications",
)
def evaluate_alerts(project: str, body: EvaluateIn, state: State, actor: CurrentActor) -> EvaluationOut:
    return evaluate(state.db, service.secret_box(state.settings), actor, project, deliver=body.deliver)


@router.post("/observations", dependencies=[Depends(authorize("monitor.write"))], response_model=ObservationsOut)
def push_observations(project: str, body: ObservationsIn, session: WriteSession) -> ObservationsOut:
    p = projects.get_by_name(session, project)
    return ObservationsOut(stored=service.push_observations(session, p, body.observations))


# -- rules -------------------------------------------------------------------------------------
@router.get("/rules", dependencies=READ, response_model=RuleList)
def list_rules(project: str, session: ReadSession, paging: Paging) -> RuleList:
    p = projects.get_by_name(session, project)
    page = specs.list_page(session, AlertRule, p, page_token=paging.page_token, page_size=paging.page_size)
    return RuleList(rules=[specs.rule_out(r) for r in page.items], next_page_token=page.next_page_token)


@router.put("/rules/{name}", dependencies=WRITE, response_model=RuleOut, summary="Create or replace a rule")
def put_rule(project: str, name: str, body: RuleSpec, session: WriteSession, actor: CurrentActor) -> RuleOut:
    _same_name(name, body.name)
    outcome, row = service.put_rule(session, actor, projects.get_by_name(session, project), body)
    return specs.rule_out(row).model_copy(update={"outcome": outcome})


@router.get("/rules/{name}", dependencies=READ, response_model=RuleOut)
def get_rule(project: str, name: str, session: ReadSession) -> RuleOut:
    return specs.rule_out(specs.get(session, AlertRule, projects.get_by_name(session, project), name))


@router.delete("/rules/{name}", dependencies=WRITE, status_code=204, summary="Delete a rule and its alerts")
def delete_rule(project: str, name: str, session: WriteSession, actor: CurrentActor) -> Response:
    specs.delete(session, actor, AlertRule, projects.get_by_name(session, project), name)
    return Response(status_code=204)


# -- receivers ---------------------------------------------------------------------------------
@router.get("/receivers", dependencies=READ, response_model=ReceiverList)
def list_receivers(project: str, session: ReadSession, paging: Paging) -> ReceiverList:
    p = projects.get_by_name(session, project)
    page = receivers.list_page(session, p, page_token=paging.page_token, page_size=paging.page_size)
    return ReceiverList(receivers=[receivers.receiver_out(r) for r in page.items], next_page_token=page.next_page_token)


@router.put(
    "/receivers/{name}",
    dependencies=WRITE,
    response_model=ReceiverOut,
    summary="Create or replace a webhook receiver (its URL, headers and secret are stored encrypted)",
)
def put_receiver(
    project: str, name: str, body: ReceiverSpec, session: WriteSession, actor: CurrentActor, state: State
) -> ReceiverOut:
    _same_name(name, body.name)
    p = projects.get_by_name(session, project)
    outcome, row = receivers.put(session, actor, service.secret_box(state.settings), p, body)
    return receivers.receiver_out(row).model_copy(update={"outcome": outcome})


@router.get("/receivers/{name}", dependencies=READ, response_model=ReceiverOut)
def get_receiver(project: str, name: str, session: ReadSession) -> ReceiverOut:
    return receivers.receiver_out(receivers.get(session, projects.get_by_name(session, project), name))


@router.delete("/receivers/{name}", dependencies=WRITE, status_code=204)
def delete_receiver(project: str, name: str, session: WriteSession, actor: CurrentActor) -> Response:
    receivers.delete(session, actor, projects.get_by_name(session, project), name)
    return Response(status_code=204)


@router.post(
    "/receivers/{name}/test",
    dependencies=WRITE,
    response_model=NotificationOut,
    summary="Send a test notification now (retried and recorded like any other)",
)
def test_receiver(project: str, name: str, state: State) -> NotificationOut:
    return service.send_test(state.db, service.secret_box(state.settings), project, name)


# -- SLOs --------------------------------------------------------------------------------------
@router.get("/slos", dependencies=READ, response_model=SLOList)
def list_slos(project: str, session: ReadSession, paging: Paging) -> SLOList:
    p = projects.get_by_name(session, project)
    page = specs.list_page(session, ServiceLevelObjective, p, page_token=paging.page_token, page_size=paging.page_size)
    return SLOList(slos=[specs.slo_out(s) for s in page.items], next_page_token=page.next_page_token)


@router.put("/slos/{name}", dependencies=WRITE, response_model=SLOOut, summary="Create or replace an SLO")
def put_slo(project: str, name: str, body: SLOSpec, session: WriteSession, actor: CurrentActor) -> SLOOut:
    _same_name(name, body.name)
    outcome, row = service.put_slo(session, actor, projects.get_by_name(session, project), body)
    return specs.slo_out(row).model_copy(update={"outcome": outcome})


@router.get("/slos/{name}", dependencies=READ, response_model=SLOOut)
def get_slo(project: str, name: str, session: ReadSession) -> SLOOut:
    return specs.slo_out(specs.get(session, ServiceLevelObjective, projects.get_by_name(session, project), name))


@router.get(
    "/slos/{name}/status",
    dependencies=READ,
    response_model=SLOStatus,
    summary="Error budget and burn rates from the samples stored so far",
)
def slo_status(project: str, name: str, session: ReadSession) -> SLOStatus:
    return queries.slo_status(session, projects.get_by_name(session, project), name, utcnow())


@router.delete("/slos/{name}", dependencies=WRITE, status_code=204)
def delete_slo(project: str, name: str, session: WriteSession, actor: CurrentActor) -> Response:
    specs.delete(session, actor, ServiceLevelObjective, projects.get_by_name(session, project), name)
    return Response(status_code=204)
