"""Identity use cases: principals, API tokens, project members. Services flush; the
caller's unit of work commits. Every change is recorded as an event (never a secret)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shipyard.auth import tokens
from shipyard.auth.identity import Identity
from shipyard.auth.permissions import PERMISSIONS
from shipyard.auth.schemas import (
    MemberOut,
    Membership,
    PrincipalCreate,
    PrincipalUpdate,
    TokenCreate,
    TokenOut,
    TokenStatus,
    WhoAmI,
)
from shipyard.auth.tables import SERVICE_ACCOUNT, USER, ApiToken, Principal, RoleBinding
from shipyard.errors import AlreadyExists, Conflict, InvalidArgument, NotFound, PermissionDenied
from shipyard.events import service as events
from shipyard.events.context import Actor
from shipyard.projects.tables import Project
from shipyard.settings import AuthSettings
from shipyard.store.base import utcnow
from shipyard.store.pagination import Page, paginate

KIND_LABEL = {USER: "user", SERVICE_ACCOUNT: "service account"}


# -- principals --------------------------------------------------------------------------
def create_principal(
    session: Session, actor: Actor, kind: str, data: PrincipalCreate, *, source: str = "local"
) -> Principal:
    if session.scalar(select(Principal.id).where(Principal.name == data.name)) is not None:
        raise AlreadyExists(
            f"the name '{data.name}' is taken (users and service accounts share one namespace)",
            {"resource": "principal", "name": data.name},
        )
    principal = Principal(
        name=data.name,
        kind=kind,
        org_role=data.org_role,
        description=data.description,
        source=source,
        created_by=actor.name,
    )
    session.add(principal)
    session.flush()
    events.record(
        session,
        actor,
        f"{kind}.create",
        project_id=None,
        object_type="principal",
        object_id=principal.name,
        details={"kind": kind, "org_role": principal.org_role, "source": source},
    )
    return principal


def get_principal(session: Session, name: str, kind: str | None = None) -> Principal:
    stmt = select(Principal).where(Principal.name == name)
    if kind is not None:
        stmt = stmt.where(Principal.kind == kind)
    principal = session.scalar(stmt)
    if principal is None:
        label = KIND_LABEL.get(kind or "", "user or service account")
        raise NotFound(f"{label} '{name}' does not exist", {"resource": kind or "principal", "name": name})
    return principal


def find_principal(session: Session, name: str) -> Principal | None:
    return session.scalar(select(Principal).where(Principal.name == name))


def list_principals(session: Session, kind: str, *, page_token: str | None, page_size: int) -> Page[Principal]:
    return paginate(
        session,
        select(Principal).where(Principal.kind == kind),
        [Principal.name],
        scope=f"principals:{kind}",
        page_token=page_token,
        page_size=page_size,
        key_of=lambda p: [p.name],
    )


def update_principal(session: Session, actor: Actor, name: str, kind: str, data: PrincipalUpdate) -> Principal:
    principal = get_principal(session, name, kind)
    changes: dict[str, object] = {}
    if "org_role" in data.model_fields_set and data.org_role != principal.org_role:
        changes["org_role"] = {"from": principal.org_role, "to": data.org_role}
        principal.org_role = data.org_role
    if data.description is not None and data.description != principal.description:
        changes["description"] = True
        principal.description = data.description
    if data.disabled is not None and data.disabled != (principal.disabled_at is not None):
        changes["disabled"] = data.disabled
        principal.disabled_at = utcnow() if data.disabled else None
    if changes:
        session.flush()
        events.record(
            session,
            actor,
            f"{kind}.update",
            project_id=None,
            object_type="principal",
            object_id=principal.name,
            details=changes,
        )
    return principal


def has_users(session: Session) -> bool:
    return session.scalar(select(func.count()).select_from(Principal).where(Principal.kind == USER)) != 0


# -- tokens ------------------------------------------------------------------------------
def token_status(token: ApiToken, now: datetime | None = None) -> TokenStatus:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at <= (now or utcnow()):
        return "expired"
    return "active"


def token_out(token: ApiToken, owner: str) -> TokenOut:
    return TokenOut(
        prefix=token.prefix,
        name=token.name,
        principal=owner,
        scopes=token.scopes,
        status=token_status(token),
        created_by=token.created_by,
        created_at=token.created_at,
        expires_at=token.expires_at,
        last_used_at=token.last_used_at,
        revoked_at=token.revoked_at,
    )


def _check_scopes(requested: list[str] | None, within: frozenset[str] | None) -> list[str] | None:
    """Validate scopes; a token made by a scoped token can never reach beyond that token."""
    if requested is None:
        return None if within is None else sorted(within)
    if not requested:
        raise InvalidArgument(
            "scopes must name at least one permission; leave it out for an unscoped token", {"field": "scopes"}
        )
    unknown = sorted(set(requested) - set(PERMISSIONS))
    if unknown:
        raise InvalidArgument(
            f"unknown permission(s) in scopes: {', '.join(unknown)}", {"field": "scopes", "unknown": unknown}
        )
    if within is not None and not set(requested) <= within:
        extra = sorted(set(requested) - within)
        raise PermissionDenied(
            f"a scoped token cannot issue a token with more scopes than its own: {', '.join(extra)}",
            {"permission": extra[0], "project": None, "field": "scopes"},
        )
    return sorted(set(requested))


def issue_token(
    session: Session,
    actor: Actor,
    owner: Principal,
    data: TokenCreate,
    cfg: AuthSettings,
    *,
    within: frozenset[str] | None = None,
) -> tuple[ApiToken, str]:
    """Create a token for ``owner``; returns the row and the token text (show it once)."""
    if owner.disabled_at is not None:
        raise Conflict(f"'{owner.name}' is disabled; enable it before issuing tokens", {"name": owner.name})
    days = data.expires_in_days or cfg.token_default_days
    if days > cfg.token_max_days:
        raise InvalidArgument(
            f"expires_in_days is {days}, above this server's limit of {cfg.token_max_days}",
            {"field": "expires_in_days", "max": cfg.token_max_days},
        )
    scopes = _check_scopes(data.scopes, within)
    text, parts = tokens.new_token()
    now = utcnow()
    token = ApiToken(
        principal_id=owner.id,
        name=data.name,
        prefix=parts.prefix,
        secret_sha256=tokens.digest(parts.secret),
        scopes=scopes,
        created_by=actor.name,
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    session.add(token)
    session.flush()
    events.record(
        session,
        actor,
        "token.create",
        project_id=None,
        object_type="api_token",
        object_id=token.prefix,
        details={
            "principal": owner.name,
            "name": token.name,
            "scopes": scopes,
            "expires_at": token.expires_at.astimezone(UTC).isoformat(),
        },
    )
    return token, text


def list_tokens(
    session: Session, owner: Principal, *, include_inactive: bool, page_token: str | None, page_size: int
) -> Page[ApiToken]:
    stmt = select(ApiToken).where(ApiToken.principal_id == owner.id)
    if not include_inactive:
        stmt = stmt.where(ApiToken.revoked_at.is_(None), ApiToken.expires_at > utcnow())
    return paginate(
        session,
        stmt,
        [ApiToken.created_at, ApiToken.id],
        scope=f"tokens:{owner.id}:{include_inactive}",
        page_token=page_token,
        page_size=page_size,
        key_of=lambda t: [t.created_at, t.id],
        descending=True,
    )


def _normalise_prefix(prefix: str) -> str:
    """Accept the prefix as listed, or with its ``sy_`` in front."""
    return prefix.removeprefix(tokens.TOKEN_PREFIX).rstrip("_")


def revoke_token(session: Session, actor: Actor, owner: Principal, prefix: str) -> ApiToken:
    """Revoke one of ``owner``'s tokens (idempotent). A prefix of someone else's token is
    answered exactly like an unknown one."""
    prefix = _normalise_prefix(prefix)
    token = session.scalar(select(ApiToken).where(ApiToken.prefix == prefix, ApiToken.principal_id == owner.id))
    if token is None:
        raise NotFound(f"'{owner.name}' has no token '{prefix}'", {"resource": "api_token", "prefix": prefix})
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        token.revoked_by = actor.name
        session.flush()
        events.record(
            session,
            actor,
            "token.revoke",
            project_id=None,
            object_type="api_token",
            object_id=token.prefix,
            details={"principal": owner.name, "name": token.name},
        )
    return token


# -- project members ---------------------------------------------------------------------
def set_member(session: Session, actor: Actor, project: Project, name: str, role: str) -> MemberOut:
    """Give ``name`` the role ``role`` in ``project`` (replacing the role it had)."""
    principal = get_principal(session, name)
    binding = session.scalar(
        select(RoleBinding).where(RoleBinding.project_id == project.id, RoleBinding.principal_id == principal.id)
    )
    before = binding.role if binding else None
    if binding is None:
        binding = RoleBinding(project_id=project.id, principal_id=principal.id, role=role, created_by=actor.name)
        session.add(binding)
    else:
        binding.role = role
    session.flush()
    if before != role:
        events.record(
            session,
            actor,
            "member.set",
            project_id=project.id,
            object_type="member",
            object_id=principal.name,
            details={"kind": principal.kind, "from": before, "to": role},
        )
    return _member_out(principal, binding)


def remove_member(session: Session, actor: Actor, project: Project, name: str) -> None:
    principal = get_principal(session, name)
    binding = session.scalar(
        select(RoleBinding).where(RoleBinding.project_id == project.id, RoleBinding.principal_id == principal.id)
    )
    if binding is None:
        raise NotFound(
            f"'{name}' is not a member of project '{project.name}'",
            {"resource": "member", "name": name, "project": project.name},
        )
    session.delete(binding)
    session.flush()
    events.record(
        session,
        actor,
        "member.remove",
        project_id=project.id,
        object_type="member",
        object_id=principal.name,
        details={"kind": principal.kind, "role": binding.role},
    )


def list_members(session: Session, project: Project, *, page_token: str | None, page_size: int) -> Page[MemberOut]:
    page: Page[Principal] = paginate(
        session,
        select(Principal)
        .join(RoleBinding, RoleBinding.principal_id == Principal.id)
        .where(RoleBinding.project_id == project.id),
        [Principal.name],
        scope=f"members:{project.id}",
        page_token=page_token,
        page_size=page_size,
        key_of=lambda p: [p.name],
    )
    ids = [p.id for p in page.items]
    bindings = {
        b.principal_id: b
        for b in session.scalars(
            select(RoleBinding).where(RoleBinding.project_id == project.id, RoleBinding.principal_id.in_(ids))
        )
    }
    return Page(items=[_member_out(p, bindings[p.id]) for p in page.items], next_page_token=page.next_page_token)


def memberships(session: Session, principal_id: str) -> list[tuple[str, str]]:
    """(project name, role) of every binding of a principal, by project name."""
    rows = session.execute(
        select(Project.name, RoleBinding.role)
        .join(RoleBinding, RoleBinding.project_id == Project.id)
        .where(RoleBinding.principal_id == principal_id)
        .order_by(Project.name)
    )
    return [(name, role) for name, role in rows]


def _member_out(principal: Principal, binding: RoleBinding) -> MemberOut:
    return MemberOut(
        principal=principal.name,
        kind=principal.kind,
        role=binding.role,
        created_by=binding.created_by,
        created_at=binding.created_at,
    )


# -- the caller ----------------------------------------------------------------------------
def principal_of(session: Session, identity: Identity) -> Principal:
    """The account behind ``identity``. Local mode has none: it acts as the OS user."""
    if identity.principal_id is None:
        raise InvalidArgument(
            f"local mode acts as the OS user '{identity.name}', who has no account and so no tokens of their own; "
            "name the user or service account (--principal NAME)",
            {"field": "principal"},
        )
    principal = session.get(Principal, identity.principal_id)
    if principal is None:  # deleted between authentication and now
        raise NotFound(f"'{identity.name}' no longer exists", {"resource": "principal", "name": identity.name})
    return principal


def whoami(session: Session, identity: Identity) -> WhoAmI:
    token = None
    if identity.token_id is not None:
        row = session.get(ApiToken, identity.token_id)
        token = token_out(row, identity.name) if row is not None else None
    bound = memberships(session, identity.principal_id) if identity.principal_id else []
    return WhoAmI(
        name=identity.name,
        kind=identity.kind,
        via=identity.via,
        org_roles=sorted(identity.org_roles),
        token=token,
        memberships=[Membership(project=p, role=r, via="binding") for p, r in bound]
        + [Membership(project=p, role=r, via="oidc_group") for p, r in identity.group_bindings],
    )
