"""Who is calling: the identity a request was authenticated as."""

from __future__ import annotations

import getpass
from dataclasses import dataclass

LOCAL = "local"


def local_user() -> str:
    """The OS user: who acts in local mode and in ``shipyard admin``."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "local"


@dataclass(frozen=True)
class Identity:
    """An authenticated caller.

    ``via`` says how: ``token`` (a Shipyard API token), ``oidc`` (a JWT from the
    configured identity provider) or ``local`` (local mode: the OS user at the keyboard,
    who may do anything, as with any local tool). ``scopes`` (API tokens only) narrow
    the owner's roles. ``group_org_roles`` and ``group_bindings`` come from the OIDC
    groups claim of this very request and are never stored.
    """

    name: str
    kind: str  # "user", "service_account" or "local"
    via: str  # "token", "oidc" or "local"
    principal_id: str | None = None
    org_role: str | None = None
    token_id: str | None = None
    token_prefix: str | None = None
    scopes: frozenset[str] | None = None
    group_org_roles: frozenset[str] = frozenset()
    group_bindings: tuple[tuple[str, str], ...] = ()  # (project name, role)

    @classmethod
    def local(cls, name: str) -> Identity:
        return cls(name=name, kind=LOCAL, via=LOCAL, org_role="org_admin")

    @property
    def is_local(self) -> bool:
        return self.via == LOCAL

    @property
    def org_roles(self) -> frozenset[str]:
        stored = {self.org_role} if self.org_role else set()
        return frozenset(stored) | self.group_org_roles

    def group_roles_in(self, project: str) -> frozenset[str]:
        """The project roles the OIDC groups grant in ``project``."""
        return frozenset(role for name, role in self.group_bindings if name == project)
