"""OIDC bearer JWTs: signature (against the issuer's JWKS), issuer, audience, expiry.

Enabled by ``auth.oidc_issuer``. The key set is fetched from ``auth.oidc_jwks_url`` with
httpx and cached for ``auth.oidc_jwks_cache_s``; a token signed with a key id the cache
does not know triggers one early refetch (key rotation), at most every
:data:`MIN_REFETCH_S` seconds. Only asymmetric algorithms are accepted, so a token signed
with the public key as an HMAC secret (or ``alg: none``) is refused.

Test seam: :class:`OidcVerifier` takes an ``httpx.Client`` (for example one over an
``httpx.MockTransport``); by default it makes its own.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from shipyard.auth.permissions import ORG_ROLES, PROJECT_ROLES
from shipyard.errors import InvalidArgument, Unauthenticated, Unavailable
from shipyard.logging import get_logger
from shipyard.settings import AuthSettings

ASYMMETRIC = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
MIN_REFETCH_S = 10.0
_PROJECT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")

log = get_logger("shipyard.auth")


@dataclass(frozen=True)
class GroupRoles:
    """``auth.oidc_group_roles`` parsed: group -> organisation roles and (project, role) pairs."""

    org: dict[str, frozenset[str]]
    projects: dict[str, tuple[tuple[str, str], ...]]

    @classmethod
    def parse(cls, entries: list[str]) -> GroupRoles:
        org: dict[str, set[str]] = {}
        projects: dict[str, list[tuple[str, str]]] = {}
        for entry in entries:
            group, sep, role = entry.partition("=")
            group, role = group.strip(), role.strip()
            if not sep or not group or not role:
                raise _bad_mapping(entry, "write it as group=role")
            if role in ORG_ROLES:
                org.setdefault(group, set()).add(role)
                continue
            project, sep, project_role = role.partition(":")
            if not sep or not _PROJECT.match(project) or project_role not in PROJECT_ROLES:
                raise _bad_mapping(
                    entry, f"the role is {' or '.join(ORG_ROLES)}, or <project>:<{'|'.join(PROJECT_ROLES)}>"
                )
            projects.setdefault(group, []).append((project, project_role))
        return cls(
            org={g: frozenset(r) for g, r in org.items()},
            projects={g: tuple(p) for g, p in projects.items()},
        )

    def resolve(self, groups: list[str]) -> tuple[frozenset[str], tuple[tuple[str, str], ...]]:
        org: set[str] = set()
        bindings: list[tuple[str, str]] = []
        for group in groups:
            org |= self.org.get(group, frozenset())
            bindings.extend(self.projects.get(group, ()))
        return frozenset(org), tuple(sorted(set(bindings)))


def _bad_mapping(entry: str, why: str) -> InvalidArgument:
    return InvalidArgument(
        f"auth.oidc_group_roles entry '{entry}' is not valid: {why}", {"field": "auth.oidc_group_roles"}
    )


@dataclass(frozen=True)
class OidcClaims:
    username: str
    groups: list[str]


class OidcVerifier:
    def __init__(self, cfg: AuthSettings, http: httpx.Client | None = None) -> None:
        bad = sorted(set(cfg.oidc_algorithms) - ASYMMETRIC)
        if bad or not cfg.oidc_algorithms:
            raise InvalidArgument(
                f"auth.oidc_algorithms may only name asymmetric algorithms ({', '.join(sorted(ASYMMETRIC))}); "
                f"refused: {', '.join(bad) or 'an empty list'}",
                {"field": "auth.oidc_algorithms"},
            )
        if not (cfg.oidc_issuer and cfg.oidc_audience and cfg.oidc_jwks_url):  # AuthSettings enforces it too
            raise InvalidArgument("OIDC needs auth.oidc_issuer, oidc_audience and oidc_jwks_url", {"field": "auth"})
        self.cfg = cfg
        self.issuer: str = cfg.oidc_issuer
        self.audience: str = cfg.oidc_audience
        self.jwks_url: str = cfg.oidc_jwks_url
        self.group_roles = GroupRoles.parse(cfg.oidc_group_roles)
        self.http = http or httpx.Client(timeout=10.0, follow_redirects=False)
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._fetched_at = -1e18
        self._lock = threading.Lock()

    # -- keys ------------------------------------------------------------------------
    def _fetch(self) -> None:
        try:
            response = self.http.get(self.jwks_url)
            response.raise_for_status()
            key_set = jwt.PyJWKSet.from_dict(response.json())
        except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
            log.warning("oidc key set unavailable", jwks_url=self.jwks_url, error=type(exc).__name__)
            raise Unavailable(
                "the identity provider's signing keys cannot be fetched; try again later",
                {"jwks_url": self.jwks_url},
            ) from exc
        self._keys = {key.key_id: key for key in key_set.keys}
        self._fetched_at = time.monotonic()

    def _key(self, kid: str | None) -> jwt.PyJWK:
        with self._lock:
            age = time.monotonic() - self._fetched_at
            if age > self.cfg.oidc_jwks_cache_s or (kid not in self._keys and age > MIN_REFETCH_S):
                self._fetch()
            if kid is None and len(self._keys) == 1:
                return next(iter(self._keys.values()))
            key = self._keys.get(kid)
        if key is None:
            raise Unauthenticated("the token is signed with a key the identity provider does not publish")
        return key

    # -- tokens ----------------------------------------------------------------------
    def verify(self, token: str) -> OidcClaims:
        """The user and groups of a valid token; :class:`Unauthenticated` otherwise. The
        message says why (expired, wrong audience …), never what the token contained."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthenticated("the bearer token is neither a Shipyard API token nor a valid JWT") from exc
        if header.get("alg") not in self.cfg.oidc_algorithms:
            raise Unauthenticated(f"JWT algorithm '{header.get('alg')}' is not accepted")
        key = self._key(header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=self.cfg.oidc_algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.cfg.oidc_leeway_s,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("the JWT has expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise Unauthenticated("the JWT is not meant for this server (audience)") from exc
        except jwt.InvalidIssuerError as exc:
            raise Unauthenticated("the JWT comes from another issuer") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"the JWT is not valid: {type(exc).__name__}") from exc
        username = claims.get(self.cfg.oidc_username_claim)
        if not isinstance(username, str) or not username:
            raise Unauthenticated(f"the JWT has no '{self.cfg.oidc_username_claim}' claim naming the user")
        raw_groups = claims.get(self.cfg.oidc_groups_claim) or []
        groups = [raw_groups] if isinstance(raw_groups, str) else [g for g in raw_groups if isinstance(g, str)]
        return OidcClaims(username=username.lower(), groups=groups)

    def close(self) -> None:
        self.http.close()
