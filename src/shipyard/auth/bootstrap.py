"""The first admin: created straight in the database, since no one can call the API yet.

``shipyard admin create-user NAME --admin`` uses this; so do the demo and the tests. A
server never creates an account by itself (no default admin, no default password): it
only points at this command when it finds no users.
"""

from __future__ import annotations

from shipyard.auth import service
from shipyard.auth.schemas import PrincipalCreate, PrincipalOut, TokenCreate, TokenCreated
from shipyard.auth.tables import USER
from shipyard.events.context import Actor
from shipyard.settings import AuthSettings
from shipyard.store.engine import Database

HINT = "no users yet: create the first admin with `shipyard admin create-user NAME --admin` (it prints a token once)"


def create_user_with_token(
    db: Database,
    actor: Actor,
    name: str,
    cfg: AuthSettings,
    *,
    org_role: str | None = None,
    token_name: str = "bootstrap",
    expires_in_days: int | None = None,
    exist_ok: bool = False,
) -> tuple[PrincipalOut, TokenCreated]:
    """Create user ``name`` (or, with ``exist_ok``, reuse it) and issue it a token."""
    data = PrincipalCreate.model_validate({"name": name, "org_role": org_role})
    with db.session() as session:
        existing = service.find_principal(session, name) if exist_ok else None
        user = existing or service.create_principal(session, actor, USER, data)
        token, text = service.issue_token(
            session, actor, user, TokenCreate(name=token_name, expires_in_days=expires_in_days), cfg
        )
        out = service.token_out(token, user.name)
        return PrincipalOut.model_validate(user), TokenCreated(**out.model_dump(), token=text)


def issue_token_for(
    db: Database, actor: Actor, name: str, cfg: AuthSettings, *, token_name: str, expires_in_days: int | None = None
) -> TokenCreated:
    """A new token for an existing principal (break-glass: a lost admin token)."""
    with db.session() as session:
        owner = service.get_principal(session, name)
        token, text = service.issue_token(
            session, actor, owner, TokenCreate(name=token_name, expires_in_days=expires_in_days), cfg
        )
        return TokenCreated(**service.token_out(token, owner.name).model_dump(), token=text)


def missing_users_hint(db: Database) -> str | None:
    """The hint to print at start-up when the database has no users, else None."""
    with db.session(readonly=True) as session:
        return None if service.has_users(session) else HINT
