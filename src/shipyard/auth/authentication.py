"""Authentication: from an ``Authorization`` header to an :class:`Identity`.

Accepted: ``Bearer sy_<prefix>_<secret>`` (a Shipyard API token, see
:mod:`shipyard.auth.tokens`), and, when ``auth.oidc_issuer`` is set, ``Bearer <JWT>``
from that issuer (see :mod:`shipyard.auth.oidc`). Everything else is
:class:`~shipyard.errors.Unauthenticated`.

Failed attempts that presented a credential count against the source address
(:mod:`shipyard.auth.ratelimit`); over the limit, every credentialed request from that
address is refused with 429 until the window has passed, valid token or not (otherwise
guessing could go on). A request without any credential does not count.

Nothing here logs or returns a token: failures are logged with the reason, the source
and at most the token's public prefix.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from shipyard.auth import service, tokens
from shipyard.auth.errors import InvalidCredential
from shipyard.auth.identity import Identity
from shipyard.auth.oidc import OidcVerifier
from shipyard.auth.ratelimit import FailedAuthLimiter
from shipyard.auth.schemas import PrincipalCreate
from shipyard.auth.tables import USER, ApiToken, Principal
from shipyard.errors import AlreadyExists, Conflict, ShipyardError, Unauthenticated
from shipyard.events.context import Actor
from shipyard.logging import get_logger
from shipyard.settings import AuthSettings
from shipyard.store.base import utcnow
from shipyard.store.engine import Database

# last_used_at is written at most this often per token: one small UPDATE a minute for a
# busy token instead of one per request.
TOUCH_INTERVAL = timedelta(seconds=60)
_NAME = re.compile(r"^[a-z0-9][a-z0-9._@+-]{0,127}$")
_JWT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")

log = get_logger("shipyard.auth")

MISSING = "authentication required: send 'Authorization: Bearer <token>'"


class Authenticator:
    """Authenticates requests for one app. Holds the failed-attempt limiter and, when
    OIDC is configured, the verifier with its cached key set."""

    def __init__(self, cfg: AuthSettings, oidc: OidcVerifier | None = None) -> None:
        self.cfg = cfg
        self.limiter = FailedAuthLimiter(cfg.failed_auth_limit, cfg.failed_auth_window_s)
        self.oidc = oidc if oidc is not None else (OidcVerifier(cfg) if cfg.oidc_issuer else None)

    def authenticate(
        self, db: Database, authorization: str | None, source: str, *, session: Session | None = None
    ) -> Identity:
        """The identity behind ``authorization``. Reads through ``session`` when given (so
        a request authenticates and authorizes in one read transaction); writes (last use,
        OIDC provisioning) use short units of work of their own."""
        if not authorization:
            raise Unauthenticated(MISSING, {"reason": "missing"})
        self.limiter.check(source)
        scheme, _, credential = authorization.strip().partition(" ")
        credential = credential.strip()
        prefix = None
        try:
            if scheme.lower() != "bearer" or not credential:
                raise Unauthenticated(MISSING, {"reason": "malformed"})
            if tokens.looks_like_shipyard_token(credential):
                parts = tokens.parse(credential)
                prefix = parts.prefix if parts else None
                return self._api_token(db, parts, session)
            if self.oidc is not None and _JWT.match(credential):
                return self._oidc(db, credential)
            raise InvalidCredential("neither an API token nor a JWT this server accepts")
        except Unauthenticated as exc:
            self.limiter.failed(source)
            log.warning(
                "authentication failed",
                reason=exc.why if isinstance(exc, InvalidCredential) else exc.message,
                source=source,
                token_prefix=prefix,
            )
            raise

    # -- API tokens ------------------------------------------------------------------
    def _api_token(self, db: Database, parts: tokens.TokenParts | None, session: Session | None) -> Identity:
        if parts is None:
            raise InvalidCredential("malformed API token")
        now = utcnow()
        lookup = (
            select(ApiToken, Principal)
            .join(Principal, Principal.id == ApiToken.principal_id)
            .where(ApiToken.prefix == parts.prefix)
        )
        if session is not None:
            row = session.execute(lookup).first()
        else:
            with db.session(readonly=True) as own:
                row = own.execute(lookup).first()
        if row is None:
            tokens.matches(parts.secret, tokens.DECOY_DIGEST)  # same work as a wrong secret
            raise InvalidCredential("unknown token prefix")
        token, principal = row
        if not tokens.matches(parts.secret, token.secret_sha256):
            raise InvalidCredential("wrong secret")
        # The caller holds the real secret from here on: telling them why is safe.
        if token.revoked_at is not None:
            raise Unauthenticated("this API token was revoked", {"reason": "revoked"})
        if token.expires_at <= now:
            raise Unauthenticated(
                f"this API token expired at {token.expires_at.isoformat(timespec='seconds')}", {"reason": "expired"}
            )
        if principal.disabled_at is not None:
            raise Unauthenticated(f"'{principal.name}' is disabled", {"reason": "disabled"})
        if token.last_used_at is None or now - token.last_used_at >= TOUCH_INTERVAL:
            self._touch(db, token.id, now)
        return Identity(
            name=principal.name,
            kind=principal.kind,
            via="token",
            principal_id=principal.id,
            org_role=principal.org_role,
            token_id=token.id,
            token_prefix=token.prefix,
            scopes=frozenset(token.scopes) if token.scopes is not None else None,
        )

    @staticmethod
    def _touch(db: Database, token_id: str, now: datetime) -> None:
        """Record use; conditional, so concurrent requests (and workers) write once."""
        try:
            with db.session() as session:
                session.execute(
                    update(ApiToken)
                    .where(
                        ApiToken.id == token_id,
                        or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now - TOUCH_INTERVAL),
                    )
                    .values(last_used_at=now)
                )
        except ShipyardError as exc:  # bookkeeping must not fail the request
            log.warning("could not record token use", error=exc.message)

    # -- OIDC ------------------------------------------------------------------------
    def _oidc(self, db: Database, credential: str) -> Identity:
        assert self.oidc is not None
        claims = self.oidc.verify(credential)
        if not _NAME.match(claims.username):
            raise Unauthenticated(
                f"the JWT's '{self.cfg.oidc_username_claim}' claim is not a usable user name", {"reason": "bad name"}
            )
        principal = self._provision(db, claims.username)
        if principal.source != "oidc":
            raise Unauthenticated(
                f"'{principal.name}' is a local account; it cannot sign in through the identity provider",
                {"reason": "local account"},
            )
        if principal.disabled_at is not None:
            raise Unauthenticated(f"'{principal.name}' is disabled", {"reason": "disabled"})
        org, bindings = self.oidc.group_roles.resolve(claims.groups)
        return Identity(
            name=principal.name,
            kind=principal.kind,
            via="oidc",
            principal_id=principal.id,
            org_role=principal.org_role,
            group_org_roles=org,
            group_bindings=bindings,
        )

    @staticmethod
    def _provision(db: Database, name: str) -> Principal:
        """The principal named ``name``, created (as an OIDC user) on first sign-in."""
        with db.session(readonly=True) as session:
            found = session.scalar(select(Principal).where(Principal.name == name))
        if found is not None:
            return found
        try:
            with db.session() as session:
                created = service.create_principal(
                    session, Actor("oidc"), USER, PrincipalCreate(name=name), source="oidc"
                )
                log.info("provisioned user from the identity provider", user=name)
                return created
        except (AlreadyExists, Conflict):  # another request provisioned it first
            with db.session(readonly=True) as session:
                raced = session.scalar(select(Principal).where(Principal.name == name))
            if raced is None:
                raise
            return raced
