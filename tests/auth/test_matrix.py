"""Every route, every role: allowed exactly when the permission table says so.

One real server per database for the whole module. For each route the test sends one
request per identity, with path parameters naming objects that do not exist and an empty
body: authorization runs before any of that is looked at, so an allowed call comes back
404/422/400/2xx, a denied one 403 (or, where the caller holds nothing in the project,
the 404 a missing project gets). Nothing the allowed calls create gets in the way of the
others.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from shipyard.auth.permissions import ORG_PERMISSIONS, PROJECT_ROLES, ROLE_PERMISSIONS, narrowed, permissions_of
from shipyard.demo.background_server import serve_in_thread
from shipyard.server.app import create_app
from shipyard.server.authz import AUTHENTICATED, PUBLIC, requirements_of, routes_of
from shipyard.settings import load_settings
from tests.auth.conftest import World
from tests.conftest import _empty, bootstrap_admin

PROJECT = "alpha"
# HEAD replies have no body to tell "no such blob" from "no such project": HEAD asks for a
# blob that exists (200 when allowed, 404 when the project is hidden).
EMPTY_DIGEST = hashlib.sha256(b"").hexdigest()
PATH_VALUES = {
    "project": PROJECT,
    "digest": "0" * 64,
    "experiment_id": "999999",
    "run_id": "0" * 32,
    "name": "ghost",
    "version": "999",
    "alias": "ghost",
    "key": "k",
    "principal": "ghost",
    "prefix": "000000000000",
    "request_id": "999999",
}


@dataclass(frozen=True)
class Caller:
    name: str
    token: str | None
    org_roles: tuple[str, ...] = ()
    role_in_project: str | None = None
    scopes: frozenset[str] | None = None

    def permissions(self, project_route: bool) -> frozenset[str]:
        if project_route:
            roles = [*self.org_roles, *([self.role_in_project] if self.role_in_project else [])]
            return narrowed(permissions_of(roles) - ORG_PERMISSIONS, self.scopes)
        return narrowed(permissions_of(self.org_roles), self.scopes)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    rule: str

    @property
    def url(self) -> str:
        values = PATH_VALUES | ({"digest": EMPTY_DIGEST} if self.method == "HEAD" else {})
        return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], self.path)

    @property
    def in_project(self) -> bool:
        return "{project}" in self.path and self.rule not in ORG_PERMISSIONS

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _routes() -> list[Route]:
    """Every (method, path) of a server app with its declared rule (at collection time)."""
    with tempfile.TemporaryDirectory(prefix="matrix-routes-") as home:
        app = create_app(load_settings({"home": home, "logging.level": "WARNING"}).settings)
        try:
            found = []
            for route in routes_of(app):
                (requirement,) = requirements_of(route)
                for method in sorted(getattr(route, "methods", ())):
                    found.append(Route(method, getattr(route, "path", ""), requirement.rule))
            return found
        finally:
            app.state.shipyard.db.dispose()


ROUTES = _routes()


@dataclass
class Matrix:
    world: World
    callers: list[Caller]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def matrix(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    home = tmp_path_factory.mktemp("matrix")
    url = f"sqlite:///{home / 'shipyard.db'}"
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
    settings = load_settings({"home": str(home), "database.url": url, "logging.level": "WARNING"}).settings
    try:
        admin = bootstrap_admin(settings)
        with serve_in_thread(create_app(settings)) as server_url:
            world = World(server_url, settings, admin)
            world.project(PROJECT)
            world.project("beta")
            world.admin.put(f"/api/v1/projects/{PROJECT}/blobs/{EMPTY_DIGEST}", content=b"").raise_for_status()
            callers = [Caller("anonymous", None)]
            for role in PROJECT_ROLES:
                kind = "service_account" if role in ("invoker", "runner") else "user"
                token = world.user(f"p-{role}", kind=kind, bindings={PROJECT: role})
                callers.append(Caller(f"p-{role}", token, role_in_project=role))
            for org_role in ("org_admin", "auditor"):
                token = world.user(f"o-{org_role}", org_role=org_role)
                callers.append(Caller(f"o-{org_role}", token, org_roles=(org_role,)))
            callers.append(Caller("stranger", world.user("stranger", bindings={"beta": "admin"})))
            scoped = world.user("scoped", bindings={PROJECT: "admin"}, scopes=["tracking.read", "registry.read"])
            callers.append(
                Caller("scoped", scoped, role_in_project="admin", scopes=frozenset({"tracking.read", "registry.read"}))
            )
            yield Matrix(world, callers)
            world.close()
    finally:
        if request.param == "postgresql":
            _empty(url)


def test_every_route_is_in_the_matrix() -> None:
    assert len(ROUTES) > 60
    assert {r.rule for r in ROUTES} >= {PUBLIC, AUTHENTICATED, "tracking.write", "registry.write", "identity.admin"}


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_route_allows_exactly_the_roles_the_table_grants(matrix: Matrix, route: Route) -> None:
    body = b"{}" if route.method in ("POST", "PUT", "PATCH") else None
    problems = []
    for caller in matrix.callers:
        reply = matrix.world.http(caller.token).request(
            route.method, route.url, content=body, headers={"content-type": "application/json"} if body else {}
        )
        outcome = _outcome(reply)
        expected = _expected(route, caller)
        if outcome != expected:
            problems.append(f"{caller.name}: expected {expected}, got {reply.status_code} {reply.text[:200]}")
        if outcome == "denied" and route.method != "HEAD":
            error = reply.json()["error"]
            assert error["details"]["permission"] == route.rule, reply.text
            if route.in_project:
                assert error["details"]["project"] == PROJECT
                assert PROJECT in error["message"]
                assert route.rule in error["message"]
    assert not problems, "\n".join(problems)


def _outcome(reply: httpx.Response) -> str:
    if reply.status_code == 401:
        return "unauthenticated"
    if reply.status_code == 403:
        return "denied"
    if reply.status_code == 404:
        if reply.request.method == "HEAD":
            return "hidden"
        error = reply.json().get("error", {})
        if error.get("details") == {"resource": "project", "name": PROJECT}:
            return "hidden"
    assert reply.status_code < 500, reply.text
    return "allowed"


def _expected(route: Route, caller: Caller) -> str:
    if route.rule == PUBLIC:
        return "allowed"
    if caller.token is None:
        return "unauthenticated"
    if route.rule == AUTHENTICATED:
        return "allowed"
    granted = caller.permissions(route.in_project)
    if route.rule in granted:
        return "allowed"
    if route.in_project and not granted:
        return "hidden"
    return "denied"


# Spot checks that the declarations themselves say what the security model promises.
SENSITIVE = {
    ("POST", "/api/v1/projects"): "project.create",
    ("GET", "/api/v1/projects/{project}/events"): "audit.read",
    ("PUT", "/api/v1/projects/{project}/members/{principal}"): "project.admin",
    ("DELETE", "/api/v1/projects/{project}/members/{principal}"): "project.admin",
    ("POST", "/api/v1/users"): "identity.admin",
    ("POST", "/api/v1/service-accounts"): "identity.admin",
    ("POST", "/api/v1/principals/{name}/tokens"): "identity.admin",
    ("GET", "/api/v1/principals/{name}/tokens"): "identity.read",
    ("PUT", "/api/v1/projects/{project}/models/{name}/aliases/{alias}"): "registry.write",
    ("POST", "/api/v1/projects/{project}/models/{name}/versions"): "registry.write",
    ("PUT", "/api/v1/projects/{project}/protected-aliases/{alias}"): "registry.protect",
    ("DELETE", "/api/v1/projects/{project}/protected-aliases/{alias}"): "registry.protect",
    ("POST", "/api/v1/projects/{project}/alias-requests"): "registry.write",
    ("POST", "/api/v1/projects/{project}/alias-requests/{request_id}/approve"): "registry.approve",
    ("POST", "/api/v1/projects/{project}/alias-requests/{request_id}/reject"): "registry.approve",
    ("POST", "/api/v1/projects/{project}/alias-requests/{request_id}/cancel"): "registry.write",
    ("POST", "/api/v1/projects/{project}/runs/{run_id}/log-batch"): "tracking.write",
    ("PUT", "/api/v1/projects/{project}/blobs/{digest}"): "artifacts.write",
    ("GET", "/api/v1/projects/{project}/blobs/{digest}"): "artifacts.read",
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/api/v1/openapi.json"): PUBLIC,
    ("GET", "/metrics"): AUTHENTICATED,
    ("GET", "/api/v1/whoami"): AUTHENTICATED,
}


def test_sensitive_routes_declare_the_expected_permission() -> None:
    declared = {(r.method, r.path): r.rule for r in ROUTES}
    for key, rule in SENSITIVE.items():
        assert declared.get(key) == rule, key


def test_the_table_keeps_its_promises() -> None:
    # an inference client calls the models and may send ground truth for its predictions; nothing else
    assert ROLE_PERMISSIONS["invoker"] == {"model.invoke", "monitor.feedback"}
    assert "alerts.write" in ROLE_PERMISSIONS["maintainer"]
    assert "alerts.write" not in ROLE_PERMISSIONS["developer"]  # webhook targets are sensitive
    assert "registry.gate" in ROLE_PERMISSIONS["maintainer"]
    assert "registry.gate" not in ROLE_PERMISSIONS["developer"]  # overriding a gate is a maintainer's call
    assert "model.invoke" not in ROLE_PERMISSIONS["viewer"]
    assert "registry.approve" in ROLE_PERMISSIONS["maintainer"]
    assert "registry.approve" in ROLE_PERMISSIONS["admin"]
    assert "registry.approve" not in ROLE_PERMISSIONS["developer"]
    assert "registry.protect" in ROLE_PERMISSIONS["maintainer"]
    assert "registry.protect" not in ROLE_PERMISSIONS["developer"]
    assert all(p.endswith(".read") for p in ROLE_PERMISSIONS["auditor"])
    assert "audit.read" in ROLE_PERMISSIONS["auditor"]
    assert not {"tracking.write", "registry.read"} & ROLE_PERMISSIONS["invoker"]
    assert "registry.read" not in ROLE_PERMISSIONS["runner"]
