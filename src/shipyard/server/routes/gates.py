"""Gate policies, evaluations attached to versions, gate checks and overrides (rules in shipyard.gates)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response, status

from shipyard.evaluation.schemas import EvaluationList, EvaluationOut, EvaluationResult
from shipyard.gates import service as gates
from shipyard.gates.schemas import (
    GateCheckIn,
    GateOverrideIn,
    GatePolicyIn,
    GatePolicyList,
    GatePolicyOut,
    VerdictList,
    VerdictOut,
)
from shipyard.projects import service as projects
from shipyard.server.authz import authorize
from shipyard.server.deps import CurrentActor, ReadSession, State, WriteSession

router = APIRouter(prefix="/api/v1/projects/{project}/models/{name}", tags=["gates"])


@router.get("/gates", dependencies=[Depends(authorize("registry.read"))], response_model=GatePolicyList)
def list_policies(project: str, name: str, session: ReadSession) -> GatePolicyList:
    return GatePolicyList(policies=gates.list_policies(session, projects.get_by_name(session, project), name))


@router.put(
    "/gates/{alias}",
    dependencies=[Depends(authorize("registry.gate"))],
    response_model=GatePolicyOut,
    summary="Attach (or replace) the gate policy of an alias",
)
def set_policy(
    project: str, name: str, alias: str, body: GatePolicyIn, session: WriteSession, actor: CurrentActor
) -> GatePolicyOut:
    return gates.set_policy(session, actor, projects.get_by_name(session, project), name, alias, body.text)


@router.get("/gates/{alias}", dependencies=[Depends(authorize("registry.read"))], response_model=GatePolicyOut)
def get_policy(project: str, name: str, alias: str, session: ReadSession) -> GatePolicyOut:
    return gates.get_policy(session, projects.get_by_name(session, project), name, alias)


@router.delete(
    "/gates/{alias}", dependencies=[Depends(authorize("registry.gate"))], status_code=status.HTTP_204_NO_CONTENT
)
def delete_policy(project: str, name: str, alias: str, session: WriteSession, actor: CurrentActor) -> Response:
    gates.delete_policy(session, actor, projects.get_by_name(session, project), name, alias)
    return Response(status_code=204)


@router.post(
    "/versions/{version}/evaluations",
    dependencies=[Depends(authorize("registry.write"))],
    status_code=status.HTTP_201_CREATED,
    response_model=EvaluationOut,
    summary="Attach an evaluation result (shipyard.evaluate) to a version",
)
def attach_evaluation(
    project: str, name: str, version: int, body: EvaluationResult, session: WriteSession, actor: CurrentActor
) -> EvaluationOut:
    return gates.record_evaluation(session, actor, projects.get_by_name(session, project), name, version, body)


@router.get(
    "/versions/{version}/evaluations", dependencies=[Depends(authorize("registry.read"))], response_model=EvaluationList
)
def list_evaluations(project: str, name: str, version: int, session: ReadSession) -> EvaluationList:
    p = projects.get_by_name(session, project)
    return EvaluationList(evaluations=gates.list_evaluations(session, p, name, version))


@router.post(
    "/versions/{version}/gate-checks",
    dependencies=[Depends(authorize("registry.write"))],
    response_model=VerdictOut,
    summary="Check an alias's gate against a version now and record the verdict",
)
def check_gate(
    project: str, name: str, version: int, body: GateCheckIn, session: WriteSession, actor: CurrentActor, state: State
) -> VerdictOut:
    p = projects.get_by_name(session, project)
    return gates.check(session, state.blobs, actor, p, name, version, body.alias)


@router.get(
    "/versions/{version}/gate-verdicts", dependencies=[Depends(authorize("registry.read"))], response_model=VerdictList
)
def list_verdicts(project: str, name: str, version: int, session: ReadSession) -> VerdictList:
    p = projects.get_by_name(session, project)
    return VerdictList(verdicts=gates.list_verdicts(session, p, name, version))


@router.post(
    "/versions/{version}/gate-overrides",
    dependencies=[Depends(authorize("registry.gate"))],
    response_model=VerdictOut,
    summary="Let a version pass a failing gate, with a written justification (audited)",
)
def override_gate(
    project: str,
    name: str,
    version: int,
    body: GateOverrideIn,
    session: WriteSession,
    actor: CurrentActor,
    state: State,
) -> VerdictOut:
    p = projects.get_by_name(session, project)
    return gates.override(session, state.blobs, actor, p, name, version, body.alias, body.justification)
