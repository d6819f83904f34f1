"""Request and response shapes of the identity API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

PrincipalName = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9._@+-]{0,127}$"),
    Field(description="Lowercase letters, digits and . _ @ + -; starts with a letter or digit; at most 128."),
]
OrgRole = Literal["org_admin", "auditor"]
ProjectRole = Literal["viewer", "developer", "maintainer", "admin", "invoker", "runner"]
TokenStatus = Literal["active", "expired", "revoked"]
TokenName = Annotated[str, StringConstraints(min_length=1, max_length=63, strip_whitespace=True)]


class PrincipalCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: PrincipalName
    org_role: OrgRole | None = Field(default=None, description="Organisation-wide role; none by default.")
    description: str = Field(default="", max_length=10_000)


class PrincipalUpdate(BaseModel):
    """Only the fields sent change; send ``"org_role": null`` to remove the org role."""

    model_config = ConfigDict(extra="forbid")

    org_role: OrgRole | None = None
    description: str | None = Field(default=None, max_length=10_000)
    disabled: bool | None = Field(default=None, description="True: every token of theirs stops working.")


class PrincipalOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    kind: str
    org_role: str | None
    description: str
    source: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    disabled_at: datetime | None


class PrincipalList(BaseModel):
    principals: list[PrincipalOut]
    next_page_token: str | None = None


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: TokenName = Field(description="What the token is for (a label, not a secret).")
    expires_in_days: int | None = Field(
        default=None, ge=1, description="Lifetime; default auth.token_default_days, at most auth.token_max_days."
    )
    scopes: list[str] | None = Field(
        default=None,
        max_length=64,
        description="Permissions the token is limited to (it never gets more than its owner has). None: unscoped.",
    )


class TokenOut(BaseModel):
    """A token's metadata. The secret is never part of it."""

    prefix: str
    name: str
    principal: str
    scopes: list[str] | None
    status: TokenStatus
    created_by: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="The token itself. Shown this once: store it now; it cannot be shown again.")


class TokenList(BaseModel):
    tokens: list[TokenOut]
    next_page_token: str | None = None


class MemberSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: ProjectRole


class MemberOut(BaseModel):
    principal: str
    kind: str
    role: str
    created_by: str
    created_at: datetime


class MemberList(BaseModel):
    members: list[MemberOut]
    next_page_token: str | None = None


class Membership(BaseModel):
    project: str
    role: str
    via: Literal["binding", "oidc_group"]


class WhoAmI(BaseModel):
    name: str
    kind: str
    via: str = Field(description="token, oidc or local")
    org_roles: list[str]
    token: TokenOut | None = Field(default=None, description="The API token of this request, if one was used.")
    memberships: list[Membership]
