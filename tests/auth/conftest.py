"""Fixtures for identity and access tests: a server-mode app with an admin, and helpers
to create principals, bindings and tokens through the API itself."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from shipyard.demo.background_server import serve_in_thread
from shipyard.server.app import create_app
from shipyard.settings import Settings
from tests.conftest import bootstrap_admin


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def check(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json() if response.content else None


@dataclass
class World:
    """A running server and an org admin; helpers act through the admin's token."""

    url: str
    settings: Settings
    admin_token: str
    _clients: dict[str | None, httpx.Client] = field(default_factory=dict)

    def http(self, token: str | None = None) -> httpx.Client:
        """A client calling with ``token`` (one per token, reused: making one costs ~20 ms)."""
        if token not in self._clients:
            self._clients[token] = httpx.Client(base_url=self.url, timeout=30, headers=bearer(token))
        return self._clients[token]

    @property
    def admin(self) -> httpx.Client:
        return self.http(self.admin_token)

    def project(self, name: str) -> None:
        check(self.admin.post("/api/v1/projects", json={"name": name}), 201)

    def principal(self, name: str, *, kind: str = "user", org_role: str | None = None) -> None:
        path = "users" if kind == "user" else "service-accounts"
        check(self.admin.post(f"/api/v1/{path}", json={"name": name, "org_role": org_role}), 201)

    def bind(self, project: str, name: str, role: str) -> None:
        check(self.admin.put(f"/api/v1/projects/{project}/members/{name}", json={"role": role}), 200)

    def token(self, name: str, **body: Any) -> str:
        created = check(self.admin.post(f"/api/v1/principals/{name}/tokens", json={"name": "t", **body}), 201)
        token: str = created["token"]
        return token

    def user(
        self,
        name: str,
        *,
        kind: str = "user",
        org_role: str | None = None,
        bindings: dict[str, str] | None = None,
        scopes: list[str] | None = None,
    ) -> str:
        """Create a principal with its bindings; return a token for it."""
        self.principal(name, kind=kind, org_role=org_role)
        for project, role in (bindings or {}).items():
            self.bind(project, name, role)
        return self.token(name, scopes=scopes)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    token = bootstrap_admin(settings)
    with serve_in_thread(create_app(settings)) as url:
        w = World(url, settings, token)
        try:
            yield w
        finally:
            w.close()
