"""Endpoints: apply a spec (diff first, idempotent), read them, their rollout history,
roll back, promote, and the one function that stores a rollout transition.

Each spec that changes an endpoint becomes a numbered *revision* with its own rollout
(:class:`~shipyard.deploy.tables.EndpointRollout`). Its state machine is
:mod:`shipyard.deploy.rollout`; this module only stores what that decides, in the caller's
unit of work, and records an event with the reason for every transition:

* ``apply`` of a spec equal to the stored one changes nothing (``unchanged``), unless the
  latest rollout was aborted: applying it again retries it (``retried``).
* A new endpoint, a ``direct`` strategy, or a revision whose routes equal the stable ones
  is promoted at once. Otherwise the rollout starts ``Progressing`` at weight 0 from the
  stable routes; a rollout still running when a newer revision arrives is ``Superseded``
  and the newer one starts again from the stable routes.
* ``rollback`` aborts a running rollout (traffic back to the stable routes); with none
  running it restores the routes that were stable before the current ones, as a new
  revision promoted at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.deploy.analysis import AnalysisResult
from shipyard.deploy.rollout import TERMINAL, Observation, Phase, RolloutState, Transition, blend, run
from shipyard.deploy.schemas import Change, EndpointOut, RolloutOut, TrafficShare, TransitionOut
from shipyard.deploy.spec import EndpointSpec, RouteSpec
from shipyard.deploy.tables import Endpoint, EndpointRollout, EndpointTransition
from shipyard.errors import Conflict, InvalidArgument, NotFound
from shipyard.events import service as events
from shipyard.events.context import Actor
from shipyard.projects.tables import Project
from shipyard.registry import versions
from shipyard.registry.schemas import VersionStatus
from shipyard.store.base import utcnow
from shipyard.store.pagination import Page, paginate

Outcome = Literal["created", "updated", "retried", "unchanged"]
SUMMARY = {Phase.PROMOTED: "Healthy", Phase.ABORTED: "Degraded"}


# -- reading ------------------------------------------------------------------------
def _not_found(project: Project, name: str) -> NotFound:
    return NotFound(
        f"endpoint '{name}' does not exist in project '{project.name}'", {"resource": "endpoint", "name": name}
    )


def get(session: Session, project: Project, name: str, *, for_update: bool = False) -> Endpoint:
    stmt = select(Endpoint).where(Endpoint.project_id == project.id, Endpoint.name == name)
    endpoint = session.scalar(stmt.with_for_update() if for_update else stmt)
    if endpoint is None:
        raise _not_found(project, name)
    return endpoint


def list_endpoints(session: Session, project: Project, *, page_token: str | None, page_size: int) -> Page[Endpoint]:
    return paginate(
        session,
        select(Endpoint).where(Endpoint.project_id == project.id),
        [Endpoint.name],
        scope=f"endpoints:{project.id}",
        page_token=page_token,
        page_size=page_size,
        key_of=lambda e: [e.name],
    )


def latest_rollout(session: Session, endpoint: Endpoint) -> EndpointRollout:
    rollout = session.scalar(
        select(EndpointRollout).where(
            EndpointRollout.endpoint_id == endpoint.id, EndpointRollout.revision == endpoint.revision
        )
    )
    assert rollout is not None, "every endpoint has its latest revision's rollout"
    return rollout


def history(
    session: Session, project: Project, name: str, *, page_token: str | None, page_size: int
) -> tuple[Endpoint, Page[EndpointRollout]]:
    """The endpoint's revisions and their rollouts, newest first."""
    endpoint = get(session, project, name)
    page: Page[EndpointRollout] = paginate(
        session,
        select(EndpointRollout).where(EndpointRollout.endpoint_id == endpoint.id),
        [EndpointRollout.revision],
        scope=f"endpoint-history:{endpoint.id}",
        page_token=page_token,
        page_size=page_size,
        key_of=lambda r: [r.revision],
        descending=True,
    )
    return endpoint, page


def transitions_of(session: Session, rollouts: Sequence[EndpointRollout]) -> dict[int, list[EndpointTransition]]:
    found: dict[int, list[EndpointTransition]] = {r.id: [] for r in rollouts}
    if not found:
        return found
    stmt = (
        select(EndpointTransition)
        .where(EndpointTransition.rollout_id.in_(list(found)))
        .order_by(EndpointTransition.rollout_id, EndpointTransition.id)
    )
    for transition in session.scalars(stmt):
        found[transition.rollout_id].append(transition)
    return found


# -- views --------------------------------------------------------------------------
def _shares(routes: Sequence[dict[str, Any]]) -> list[TrafficShare]:
    return [TrafficShare(model=r["model"], version=r["version"], weight=r["weight"]) for r in routes]


def rollout_out(rollout: EndpointRollout, transitions: Sequence[EndpointTransition] = ()) -> RolloutOut:
    return RolloutOut(
        revision=rollout.revision,
        kind=rollout.kind,
        strategy=rollout.strategy,
        phase=rollout.phase,
        step_index=rollout.step_index,
        steps=len(rollout.spec.get("strategy", {}).get("steps", [])),
        weight=rollout.weight,
        message=rollout.message,
        from_routes=_shares(rollout.from_routes),
        to_routes=_shares(rollout.to_routes),
        analysis=rollout.analysis,
        created_by=rollout.created_by,
        created_at=rollout.created_at,
        phase_since=rollout.phase_since,
        finished_at=rollout.finished_at,
        transitions=[TransitionOut.model_validate(t) for t in transitions],
    )


def endpoint_out(
    session: Session, project: Project, endpoint: Endpoint, *, with_transitions: bool = False
) -> EndpointOut:
    rollout = latest_rollout(session, endpoint)
    transitions = transitions_of(session, [rollout])[rollout.id] if with_transitions else []
    return EndpointOut(
        name=endpoint.name,
        project=project.name,
        revision=endpoint.revision,
        phase=endpoint.phase,
        spec=EndpointSpec.model_validate(endpoint.spec),
        stable_routes=_shares(endpoint.stable_routes),
        traffic=_shares(endpoint.traffic),
        rollout=rollout_out(rollout, transitions),
        created_by=endpoint.created_by,
        created_at=endpoint.created_at,
        updated_at=endpoint.updated_at,
    )


# -- diff -----------------------------------------------------------------------------
def _keyed(items: list[Any]) -> bool:
    return all(isinstance(i, dict) and "model" in i and "version" in i for i in items)


def diff(old: Any, new: Any, path: str = "") -> list[Change]:
    """What changes from ``old`` to ``new`` (canonical specs): routes and shadow targets
    are matched by ``model/version``, other lists by position."""
    if isinstance(old, dict) and isinstance(new, dict):
        changes: list[Change] = []
        for key in [*new, *(k for k in old if k not in new)]:
            sub = f"{path}.{key}" if path else str(key)
            if key not in old:
                changes.append(Change(op="add", path=sub, new=new[key]))
            elif key not in new:
                changes.append(Change(op="remove", path=sub, old=old[key]))
            else:
                changes.extend(diff(old[key], new[key], sub))
        return changes
    if isinstance(old, list) and isinstance(new, list) and old != new and _keyed(old) and _keyed(new):
        by_old = {f"{i['model']}/{i['version']}": i for i in old}
        by_new = {f"{i['model']}/{i['version']}": i for i in new}
        changes = []
        for key in [*by_new, *(k for k in by_old if k not in by_new)]:
            sub = f"{path}[{key}]"
            if key not in by_old:
                changes.append(Change(op="add", path=sub, new=by_new[key]))
            elif key not in by_new:
                changes.append(Change(op="remove", path=sub, old=by_old[key]))
            else:
                changes.extend(diff(by_old[key], by_new[key], sub))
        return changes
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new) and old != new:
        return [c for i, (o, n) in enumerate(zip(old, new, strict=True)) for c in diff(o, n, f"{path}[{i}]")]
    return [] if old == new else [Change(op="change", path=path, old=old, new=new)]


# -- writing --------------------------------------------------------------------------
def _routes(routes: Sequence[RouteSpec]) -> list[dict[str, Any]]:
    return [{"model": r.model, "version": r.version, "weight": r.weight} for r in routes]


def _route_specs(routes: Sequence[dict[str, Any]]) -> list[RouteSpec]:
    return [RouteSpec(model=r["model"], version=r["version"], weight=round(r["weight"])) for r in routes]


def _same_routes(a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]]) -> bool:
    def norm(routes: Sequence[dict[str, Any]]) -> list[tuple[str, int, float]]:
        return sorted((r["model"], r["version"], float(r["weight"])) for r in routes if r["weight"])

    return norm(a) == norm(b)


def _traffic(rollout: EndpointRollout) -> list[dict[str, Any]]:
    shares = blend(_route_specs(rollout.from_routes), _route_specs(rollout.to_routes), rollout.weight)
    return [{"model": s.model, "version": s.version, "weight": s.weight} for s in shares]


def _check_versions(session: Session, project: Project, spec: EndpointSpec) -> None:
    """Every routed or shadowed version exists and is READY (the field is named)."""
    targets: list[tuple[str, str, int]] = [(f"routes.{i}", r.model, r.version) for i, r in enumerate(spec.routes)]
    targets += [(f"shadow.{i}", s.model, s.version) for i, s in enumerate(spec.shadow)]
    for field, model, number in targets:
        try:
            _, version = versions.get(session, project, model, number)
        except NotFound as exc:
            raise InvalidArgument(f"{field}: {exc.message}", {"field": field, **exc.details}) from None
        if version.status != VersionStatus.READY.value:
            raise InvalidArgument(
                f"{field}: version {number} of '{model}' is {version.status}; only READY versions can be served",
                {"field": field, "status": version.status},
            )


def _event(session: Session, actor: Actor, action: str, endpoint: Endpoint, **details: object) -> None:
    events.record(
        session,
        actor,
        action,
        project_id=endpoint.project_id,
        object_type="endpoint",
        object_id=endpoint.name,
        details=details,
    )


def record_transition(
    session: Session,
    actor: Actor,
    endpoint: Endpoint,
    rollout: EndpointRollout,
    transition: Transition,
    *,
    now: datetime | None = None,
    analysis: dict[str, Any] | None = None,
    first: bool = False,
) -> None:
    """Store one transition of ``rollout`` (the latest revision of ``endpoint``, or the one
    being superseded): its fields, the endpoint's traffic and phase, the history row and
    the event with the reason. The one place a rollout changes."""
    now = now or utcnow()
    before = None if first else rollout.phase
    if transition.phase != rollout.phase or transition.step_index != rollout.step_index:
        rollout.phase_since = now
    rollout.phase = transition.phase.value
    rollout.step_index = transition.step_index
    rollout.weight = transition.weight
    rollout.message = transition.reason
    if analysis is not None:
        rollout.analysis = analysis
    if transition.phase in TERMINAL:
        rollout.finished_at = now
    if transition.phase == Phase.PROMOTED:
        endpoint.stable_routes = list(rollout.to_routes)
    if transition.phase != Phase.SUPERSEDED:
        endpoint.traffic = _traffic(rollout)
        endpoint.phase = SUMMARY.get(transition.phase, transition.phase.value)
    endpoint.updated_at = now
    session.add(
        EndpointTransition(
            endpoint_id=endpoint.id,
            rollout_id=rollout.id,
            at=now,
            actor=actor.name,
            from_phase=before,
            to_phase=transition.phase.value,
            step_index=transition.step_index,
            weight=transition.weight,
            reason=transition.reason,
        )
    )
    session.flush()
    _event(
        session,
        actor,
        "endpoint.transition",
        endpoint,
        revision=rollout.revision,
        from_phase=before,
        to_phase=transition.phase.value,
        step=transition.step_index,
        weight=transition.weight,
        traffic=endpoint.traffic,
        reason=transition.reason,
    )


def _start(
    session: Session,
    actor: Actor,
    endpoint: Endpoint,
    spec: EndpointSpec,
    kind: str,
    *,
    direct: bool,
    reason: str,
) -> EndpointRollout:
    """Store a new revision of ``endpoint`` for ``spec`` and its rollout's first transition."""
    now = utcnow()
    endpoint.revision += 1
    canonical = spec.canonical()
    endpoint.spec = canonical
    endpoint.spec_digest = spec.digest()
    desired = _routes(spec.routes)
    rollout = EndpointRollout(
        endpoint_id=endpoint.id,
        revision=endpoint.revision,
        kind=kind,
        strategy="direct" if direct else spec.strategy.type,
        spec=canonical,
        from_routes=list(endpoint.stable_routes),
        to_routes=desired,
        phase=Phase.PROGRESSING.value,
        step_index=0,
        weight=0.0,
        message="",
        created_by=actor.name,
        created_at=now,
        phase_since=now,
    )
    session.add(rollout)
    session.flush()
    if direct:
        first = Transition(Phase.PROMOTED, len(spec.strategy.steps), 100.0, reason)
    else:
        first = Transition(Phase.PROGRESSING, 0, 0.0, reason)
    record_transition(session, actor, endpoint, rollout, first, now=now, first=True)
    return rollout


def _describe(routes: Sequence[dict[str, Any]]) -> str:
    return ", ".join(f"{r['model']}/{r['version']} {r['weight']:g}%" for r in routes) or "nothing"


def apply(
    session: Session, actor: Actor, project: Project, spec: EndpointSpec, *, dry_run: bool = False
) -> tuple[Outcome, list[Change], Endpoint | None]:
    """Make ``spec`` the endpoint's desired state. Returns what happened, the changes from
    the stored spec, and the endpoint (None on a dry run of a new one)."""
    if spec.project is not None and spec.project != project.name:
        raise InvalidArgument(
            f"the spec names project '{spec.project}' but is applied to project '{project.name}'",
            {"field": "project"},
        )
    spec = spec.model_copy(update={"project": None})
    _check_versions(session, project, spec)
    canonical = spec.canonical()
    endpoint = session.scalar(
        select(Endpoint).where(Endpoint.project_id == project.id, Endpoint.name == spec.name).with_for_update()
    )
    if endpoint is None:
        changes = diff({}, canonical)
        if dry_run:
            return "created", changes, None
        desired = _routes(spec.routes)
        endpoint = Endpoint(
            project_id=project.id,
            name=spec.name,
            spec=canonical,
            spec_digest=spec.digest(),
            revision=0,
            stable_routes=[],
            traffic=[],
            phase=Phase.PROGRESSING.value,
            created_by=actor.name,
        )
        session.add(endpoint)
        session.flush()
        _event(session, actor, "endpoint.create", endpoint, spec=canonical)
        reason = f"revision 1 created: {_describe(desired)} (nothing served before, so no gradual rollout)"
        _start(session, actor, endpoint, spec, "create", direct=True, reason=reason)
        return "created", changes, endpoint

    latest = latest_rollout(session, endpoint)
    changes = diff(endpoint.spec, canonical)
    if not changes and latest.phase != Phase.ABORTED:
        return "unchanged", [], endpoint
    outcome: Outcome = "updated" if changes else "retried"
    if dry_run:
        return outcome, changes, endpoint
    revision = endpoint.revision + 1
    if latest.phase not in TERMINAL:
        superseded = Transition(Phase.SUPERSEDED, latest.step_index, latest.weight, f"revision {revision} applied")
        record_transition(session, actor, endpoint, latest, superseded)
    _event(
        session,
        actor,
        "endpoint.apply",
        endpoint,
        revision=revision,
        outcome=outcome,
        changes=[c.model_dump(mode="json") for c in changes],
    )
    desired = _routes(spec.routes)
    if _same_routes(desired, endpoint.stable_routes):
        direct, reason = True, f"revision {revision}: routes unchanged ({_describe(desired)}), promoted at once"
    elif spec.strategy.type == "direct":
        direct = True
        reason = f"revision {revision}: direct switch from {_describe(endpoint.stable_routes)} to {_describe(desired)}"
    else:
        direct = False
        reason = (
            f"revision {revision}: {spec.strategy.type} rollout from {_describe(endpoint.stable_routes)} "
            f"to {_describe(desired)} ({len(spec.strategy.steps)} steps)"
        )
    _start(session, actor, endpoint, spec, "retry" if outcome == "retried" else "apply", direct=direct, reason=reason)
    return outcome, changes, endpoint


def _state(rollout: EndpointRollout) -> RolloutState:
    return RolloutState(
        phase=Phase(rollout.phase),
        step_index=rollout.step_index,
        weight=rollout.weight,
        phase_since=rollout.phase_since,
        started_at=rollout.created_at,
    )


def advance(
    session: Session, actor: Actor, project: Project, name: str, observation: Observation
) -> tuple[Endpoint, list[Transition]]:
    """Feed ``observation`` to the latest rollout's state machine and store every
    transition it causes (the controller's entry point; promotion uses it too)."""
    endpoint = get(session, project, name, for_update=True)
    rollout = latest_rollout(session, endpoint)
    spec = EndpointSpec.model_validate(rollout.spec)
    transitions = run(_state(rollout), spec, observation)
    analysis = observation.analysis.model_dump(mode="json") if observation.analysis is not None else None
    for transition in transitions:
        record_transition(session, actor, endpoint, rollout, transition, now=observation.now, analysis=analysis)
        analysis = None
    return endpoint, transitions


def observe(
    session: Session,
    actor: Actor,
    project: Project,
    name: str,
    *,
    revision: int,
    ready: bool,
    analysis: AnalysisResult | None = None,
) -> tuple[Endpoint, list[Transition]]:
    """What the controller saw of revision ``revision``: whether its model servers are
    ready and, during an analysis step, the judge's verdict. Moves the rollout as the state
    machine says (a pause whose time is up ends here too) and keeps the latest verdict on
    the rollout even when it decides nothing yet. An observation of an older revision is
    refused (409): the controller must look again."""
    endpoint = get(session, project, name, for_update=True)
    if revision != endpoint.revision:
        raise Conflict(
            f"the observation is of revision {revision} of endpoint '{name}', but revision {endpoint.revision} "
            "is the latest; observe it instead",
            {"resource": "endpoint", "name": name, "revision": endpoint.revision},
        )
    rollout = latest_rollout(session, endpoint)
    if Phase(rollout.phase) in TERMINAL:
        return endpoint, []
    endpoint, transitions = advance(
        session, actor, project, name, Observation(now=utcnow(), ready=ready, analysis=analysis)
    )
    if analysis is not None and not transitions:
        rollout.analysis = analysis.model_dump(mode="json")
    return endpoint, transitions


def promote(session: Session, actor: Actor, project: Project, name: str, *, full: bool = False) -> Endpoint:
    """Resume the running rollout past its current pause or analysis (``full``: skip every
    remaining step). The person promoting vouches that the new version is ready."""
    endpoint = get(session, project, name, for_update=True)
    rollout = latest_rollout(session, endpoint)
    if Phase(rollout.phase) in TERMINAL:
        raise Conflict(
            f"endpoint '{name}' has no rollout in progress (revision {rollout.revision} is {rollout.phase})",
            {"resource": "endpoint", "name": name, "phase": rollout.phase},
        )
    advance(session, actor, project, name, Observation(now=utcnow(), ready=True, promote=True, promote_full=full))
    return endpoint


def rollback(session: Session, actor: Actor, project: Project, name: str, *, reason: str = "") -> Endpoint:
    """Send all traffic back to the last stable routes (see the module docstring)."""
    endpoint = get(session, project, name, for_update=True)
    rollout = latest_rollout(session, endpoint)
    why = f"rolled back by {actor.name}" + (f": {reason}" if reason else "")
    if Phase(rollout.phase) not in TERMINAL:
        record_transition(session, actor, endpoint, rollout, Transition(Phase.ABORTED, rollout.step_index, 0.0, why))
        _event(session, actor, "endpoint.rollback", endpoint, revision=rollout.revision, reason=reason)
        return endpoint
    if rollout.phase == Phase.ABORTED.value:
        raise Conflict(
            f"revision {rollout.revision} of endpoint '{name}' was already aborted: all traffic is on the stable "
            f"routes ({_describe(endpoint.traffic)}); apply an older spec to go further back",
            {"resource": "endpoint", "name": name, "phase": rollout.phase},
        )
    target = _previous_stable(session, endpoint)
    if target is None:
        raise Conflict(
            f"endpoint '{name}' has served only {_describe(endpoint.stable_routes)}: there is nothing to roll back to",
            {"resource": "endpoint", "name": name},
        )
    spec = EndpointSpec.model_validate(target.spec)
    _event(
        session,
        actor,
        "endpoint.rollback",
        endpoint,
        revision=endpoint.revision + 1,
        to_revision=target.revision,
        reason=reason,
    )
    _start(
        session,
        actor,
        endpoint,
        spec,
        "rollback",
        direct=True,
        reason=f"{why}; back to revision {target.revision} ({_describe(target.to_routes)})",
    )
    return endpoint


def _previous_stable(session: Session, endpoint: Endpoint) -> EndpointRollout | None:
    """The newest promoted revision whose routes differ from the stable ones now."""
    promoted = session.scalars(
        select(EndpointRollout)
        .where(EndpointRollout.endpoint_id == endpoint.id, EndpointRollout.phase == Phase.PROMOTED.value)
        .order_by(EndpointRollout.revision.desc())
    )
    for rollout in promoted:
        if not _same_routes(rollout.to_routes, endpoint.stable_routes):
            return rollout
    return None


__all__ = [
    "advance",
    "apply",
    "diff",
    "endpoint_out",
    "get",
    "history",
    "latest_rollout",
    "list_endpoints",
    "observe",
    "promote",
    "record_transition",
    "rollback",
    "rollout_out",
    "transitions_of",
]
