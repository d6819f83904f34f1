"""Identity through the SDK: who am I, users, service accounts, tokens, project members."""

from __future__ import annotations

from typing import Any

from shipyard.auth.schemas import (
    MemberList,
    MemberOut,
    PrincipalList,
    PrincipalOut,
    TokenCreated,
    TokenList,
    TokenOut,
    WhoAmI,
)
from shipyard.client.base import BaseClient, _page
from shipyard.store.pagination import Page

_KIND_PATH = {"user": "users", "service_account": "service-accounts"}


class IdentityAPI(BaseClient):
    # -- the caller ------------------------------------------------------------------
    def whoami(self) -> WhoAmI:
        return self._json("GET", "/api/v1/whoami", WhoAmI)

    # -- users and service accounts --------------------------------------------------
    def create_principal(
        self, kind: str, name: str, *, org_role: str | None = None, description: str = ""
    ) -> PrincipalOut:
        body = {"name": name, "org_role": org_role, "description": description}
        return self._json("POST", f"/api/v1/{_KIND_PATH[kind]}", PrincipalOut, json=body)

    def list_principals(
        self, kind: str, *, max_results: int | None = None, page_token: str | None = None
    ) -> Page[PrincipalOut]:
        body = self._json("GET", f"/api/v1/{_KIND_PATH[kind]}", PrincipalList, params=_page(max_results, page_token))
        return Page(items=body.principals, next_page_token=body.next_page_token)

    def get_principal(self, kind: str, name: str) -> PrincipalOut:
        return self._json("GET", f"/api/v1/{_KIND_PATH[kind]}/{name}", PrincipalOut)

    def update_principal(self, kind: str, name: str, **changes: Any) -> PrincipalOut:
        """Change ``org_role`` (None removes it), ``description`` or ``disabled``."""
        return self._json("PATCH", f"/api/v1/{_KIND_PATH[kind]}/{name}", PrincipalOut, json=changes)

    # -- tokens ----------------------------------------------------------------------
    def create_token(
        self,
        name: str,
        *,
        principal: str | None = None,
        expires_in_days: int | None = None,
        scopes: list[str] | None = None,
    ) -> TokenCreated:
        """Issue a token to the caller, or (admins) to ``principal``. The reply is the
        only time the token text is ever shown."""
        path = "/api/v1/tokens" if principal is None else f"/api/v1/principals/{principal}/tokens"
        body = {"name": name, "expires_in_days": expires_in_days, "scopes": scopes}
        return self._json("POST", path, TokenCreated, json=body)

    def list_tokens(
        self,
        *,
        principal: str | None = None,
        include_inactive: bool = False,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> Page[TokenOut]:
        path = "/api/v1/tokens" if principal is None else f"/api/v1/principals/{principal}/tokens"
        params = _page(max_results, page_token) | ({"include_inactive": "true"} if include_inactive else {})
        body = self._json("GET", path, TokenList, params=params)
        return Page(items=body.tokens, next_page_token=body.next_page_token)

    def revoke_token(self, prefix: str, *, principal: str | None = None) -> TokenOut:
        base = "/api/v1/tokens" if principal is None else f"/api/v1/principals/{principal}/tokens"
        return self._json("POST", f"{base}/{prefix}/revoke", TokenOut)

    # -- project members -------------------------------------------------------------
    def list_members(
        self, *, project: str | None = None, max_results: int | None = None, page_token: str | None = None
    ) -> Page[MemberOut]:
        body = self._json(
            "GET",
            f"/api/v1/projects/{self._project(project)}/members",
            MemberList,
            params=_page(max_results, page_token),
        )
        return Page(items=body.members, next_page_token=body.next_page_token)

    def set_member(self, principal: str, role: str, *, project: str | None = None) -> MemberOut:
        path = f"/api/v1/projects/{self._project(project)}/members/{principal}"
        return self._json("PUT", path, MemberOut, json={"role": role})

    def remove_member(self, principal: str, *, project: str | None = None) -> None:
        self._request("DELETE", f"/api/v1/projects/{self._project(project)}/members/{principal}")
