"""Every route declares who may call it; a route that does not is closed. The permission
table in docs/security.md is the one in the code."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from shipyard.auth.permissions import PERMISSIONS, ROLE_PERMISSIONS, ROLES, matrix_markdown
from shipyard.client import Client
from shipyard.client.transport import InProcessTransport
from shipyard.server.app import create_app
from shipyard.server.authz import PUBLIC, Requirement, authorize, requirements_of, routes_of
from shipyard.settings import Settings, load_settings
from tests.auth.conftest import bearer

DOCS = Path(__file__).resolve().parents[2] / "docs" / "security.md"
PUBLIC_ROUTES = {"/healthz", "/readyz", "/api/v1/openapi.json", "/api/v1/docs"}


@pytest.fixture
def server_app(tmp_path: Path) -> Iterator[FastAPI]:
    app = create_app(load_settings({"home": str(tmp_path), "logging.level": "WARNING"}).settings)
    yield app
    app.state.shipyard.db.dispose()


def test_every_route_declares_exactly_one_rule(server_app: FastAPI) -> None:
    routes = list(routes_of(server_app))
    assert len(routes) > 50
    undeclared = []
    public = set()
    for route in routes:
        assert isinstance(route, APIRoute), f"{route!r} cannot declare an access rule"
        declared = requirements_of(route)
        if len(declared) != 1:
            undeclared.append(f"{sorted(route.methods or ())} {route.path}: {declared}")
        elif declared[0].rule == PUBLIC:
            public.add(route.path)
    assert not undeclared, "routes without exactly one access declaration:\n" + "\n".join(undeclared)
    assert public == PUBLIC_ROUTES


def test_an_undeclared_route_is_closed_on_a_server(server_app: FastAPI) -> None:
    @server_app.get("/api/v1/forgotten")
    def forgotten() -> dict[str, str]:
        return {"secret": "data"}

    with httpx.Client(transport=InProcessTransport(server_app), base_url="http://t") as http:
        reply = http.get("/api/v1/forgotten")
    assert reply.status_code == 403
    assert reply.json()["error"]["code"] == "PERMISSION_DENIED"
    assert "secret" not in reply.text


def test_unknown_permissions_cannot_be_declared() -> None:
    with pytest.raises(ValueError, match="unknown permission"):
        authorize("registry.wrtie")
    assert authorize("registry.write") is authorize("registry.write")  # one dependency per rule
    assert isinstance(authorize("registry.approve"), Requirement)


def test_openapi_names_each_operations_requirement(server_app: FastAPI) -> None:
    with httpx.Client(transport=InProcessTransport(server_app), base_url="http://t") as http:
        doc = http.get("/api/v1/openapi.json").json()
        assert http.get("/api/v1/docs").status_code == 200
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    create = doc["paths"]["/api/v1/projects/{project}/models/{name}/versions"]["post"]
    assert create["x-shipyard-permission"] == "registry.write"
    assert create["security"] == [{"bearer": []}]
    health = doc["paths"]["/healthz"]["get"]
    assert health["x-shipyard-permission"] == "public"
    assert health["security"] == []
    assert "/api/v1/docs" not in doc["paths"]


def test_local_mode_acts_as_the_os_user_without_a_token(settings: Settings) -> None:
    with Client(settings=settings) as client:
        me = client.whoami()
        assert me.kind == "local"
        assert me.via == "local"
        assert me.org_roles == ["org_admin"]
        assert me.token is None
        client.create_project("local-ok")  # project.create: only org admins on a server
        run = client.create_run(project="local-ok")
        events = client.list_events(project="local-ok").items
        assert events[-1].actor == me.name
        assert run.id


def test_the_docs_matrix_is_the_code_table() -> None:
    text = DOCS.read_text()
    assert matrix_markdown() in text, (
        "regenerate with: python -c 'from shipyard.auth.permissions import *; print(matrix_markdown())'"
    )
    assert text.rstrip().splitlines()[0].startswith("# ")
    assert "## Audit log" in text


def test_the_table_is_well_formed() -> None:
    assert set(ROLE_PERMISSIONS) == set(ROLES)
    granted = {p for perms in ROLE_PERMISSIONS.values() for p in perms}
    assert granted <= set(PERMISSIONS)
    assert granted == set(PERMISSIONS), "every permission is held by some role"
    assert ROLE_PERMISSIONS["org_admin"] == set(PERMISSIONS)


def test_public_routes_work_without_a_token_and_others_do_not(server_app: FastAPI) -> None:
    with httpx.Client(transport=InProcessTransport(server_app), base_url="http://t") as http:
        assert http.get("/healthz").status_code == 200
        assert http.get("/readyz").status_code == 200
        for path in ("/metrics", "/api/v1/server-info", "/api/v1/projects", "/api/v1/whoami"):
            reply = http.get(path, headers=bearer(None))
            assert reply.status_code == 401, path
            assert reply.headers["www-authenticate"] == 'Bearer realm="shipyard"'
            assert reply.json()["error"]["code"] == "UNAUTHENTICATED"
