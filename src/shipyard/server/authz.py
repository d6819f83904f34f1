"""Every route declares who may call it; undeclared routes are closed.

A route declares exactly one requirement, as a dependency in its decorator::

    @router.post("", dependencies=[Depends(authorize("registry.write"))])
    @router.get("/healthz", dependencies=[Depends(public)])
    @router.get("/api/v1/whoami")   # with a parameter: identity: Annotated[Identity, Depends(authenticated)]

* :data:`public`: anyone, no token (liveness, readiness, the OpenAPI document).
* :data:`authenticated`: any valid token; the route shapes its answer to the caller
  (``GET /api/v1/projects`` lists only projects the caller may read).
* ``authorize(permission)``: a valid token whose identity holds ``permission``, in the
  ``{project}`` of the path for project permissions, organisation-wide otherwise (see
  :mod:`shipyard.auth.authorization`, which also explains 404-versus-403).

On a server, an app-level dependency (:func:`require_declaration`) refuses any route
that declares nothing, so a forgotten declaration fails closed; a test also enumerates
every route of the app. A denial records an ``access.denied`` event in its own short
unit of work (the request itself fails, so its unit of work rolls back). In local mode
(``create_app(..., embedded=True)``) the caller is the OS user, acting as a local admin,
and nothing is checked.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, Request
from starlette.routing import BaseRoute

from shipyard.auth import authorization
from shipyard.auth.identity import Identity
from shipyard.auth.permissions import ORG_PERMISSIONS, PERMISSIONS
from shipyard.errors import PermissionDenied, ShipyardError
from shipyard.events import service as events
from shipyard.events.context import Actor
from shipyard.logging import get_logger
from shipyard.server.errors import leaf_routes
from shipyard.server.state import AppState

PUBLIC = "public"
AUTHENTICATED = "authenticated"

log = get_logger("shipyard.auth")


class Requirement:
    """A route's access rule, usable as a FastAPI dependency (returns the caller's
    :class:`Identity`, or None on a public route of a server)."""

    def __init__(self, rule: str) -> None:
        if rule not in (PUBLIC, AUTHENTICATED) and rule not in PERMISSIONS:
            raise ValueError(f"unknown permission {rule!r}; add it to shipyard.auth.permissions first")
        self.rule = rule

    @property
    def permission(self) -> str | None:
        return None if self.rule in (PUBLIC, AUTHENTICATED) else self.rule

    def __repr__(self) -> str:
        return f"Requirement({self.rule!r})"

    def __call__(self, request: Request) -> Identity | None:
        state: AppState = request.app.state.shipyard
        if state.local_identity is not None:
            request.state.identity = state.local_identity
            return state.local_identity
        if self.rule == PUBLIC:
            return None
        assert state.authenticator is not None
        # One read transaction for both questions: who is this, and may they do this here.
        with state.db.session(readonly=True) as session:
            identity: Identity | None = getattr(request.state, "identity", None)
            if identity is None:
                identity = state.authenticator.authenticate(
                    state.db, request.headers.get("authorization"), _source(request), session=session
                )
                request.state.identity = identity
            permission = self.permission
            if permission is None:
                return identity
            project = request.path_params.get("project")
            if project is not None and permission not in ORG_PERMISSIONS:
                decision = authorization.check_project(session, identity, permission, str(project))
            else:
                decision = authorization.check_org(identity, permission)
        if not decision.allowed:
            _record_denial(state, request, identity, decision)
            assert decision.error is not None
            raise decision.error
        return identity


_BY_RULE: dict[str, Requirement] = {}


def authorize(permission: str) -> Requirement:
    """The dependency that requires ``permission`` (one instance per permission, so
    FastAPI runs it once per request however often a route names it)."""
    if permission not in _BY_RULE:
        _BY_RULE[permission] = Requirement(permission)
    return _BY_RULE[permission]


public = authorize(PUBLIC)
authenticated = authorize(AUTHENTICATED)


def _source(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def _record_denial(state: AppState, request: Request, identity: Identity, decision: authorization.Decision) -> None:
    actor = Actor(identity.name, request_id=getattr(request.state, "request_id", None), source=_source(request))
    details: dict[str, Any] = {
        "permission": decision.permission,
        "project": decision.project,
        "method": request.method,
        "path": request.url.path,
        "source": actor.source,
        "answered": "not_found" if decision.hidden else "permission_denied",
    }
    log.info("access denied", actor=identity.name, **details)
    try:
        with state.db.session() as session:
            events.record(
                session,
                actor,
                "access.denied",
                project_id=decision.project_id,
                object_type="permission",
                object_id=decision.permission,
                details=details,
            )
    except ShipyardError as exc:  # the denial stands even if it cannot be recorded
        log.error("could not record access.denied", error=exc.message)


# -- declarations -------------------------------------------------------------------------
def requirements_of(route: Any) -> tuple[Requirement, ...]:
    """Every :class:`Requirement` a route's dependency tree names (a walk over a
    handful of nodes: cheaper than any cache keyed by unhashable routes)."""
    found: list[Requirement] = []
    stack = [getattr(route, "dependant", None)]
    while stack:
        dependant = stack.pop()
        if dependant is None:
            continue
        if isinstance(dependant.call, Requirement) and dependant.call not in found:
            found.append(dependant.call)
        stack.extend(dependant.dependencies)
    return tuple(found)


async def require_declaration(request: Request) -> None:
    """App-level dependency on a server: a route that declares nothing is closed."""
    route = request.scope.get("route")
    if len(requirements_of(route)) != 1:
        log.error("route without one access declaration refused", path=getattr(route, "path", None))
        raise PermissionDenied(
            "this endpoint declares no access rule, so it is closed", {"permission": None, "project": None}
        )


def routes_of(app: FastAPI) -> Iterator[BaseRoute]:
    """Every leaf route of ``app`` (included routers flattened)."""
    for route in app.router.routes:
        yield from leaf_routes(route)
