"""Authorization decisions: may this identity use this permission (in this project)?

Effective permissions in a project are the union of what the caller's organisation
roles grant (they apply to every project), what their binding in that project grants,
and what their OIDC groups grant there, cut down to the token's scopes.

The rule for projects the caller cannot see: when the caller holds *no* permission at all
in a project (no binding, no organisation role, no group, or a token scoped away from it),
the answer is ``404 NOT_FOUND`` with exactly the error a missing project gets
(:func:`shipyard.projects.service.not_found`), so a stranger cannot tell an existing
project from a missing one. Once the caller holds *some* permission there, a missing one
is ``403 PERMISSION_DENIED`` naming the permission and the project.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from shipyard.auth.identity import Identity
from shipyard.auth.permissions import ORG_PERMISSIONS, PERMISSIONS, narrowed, permissions_of
from shipyard.auth.tables import RoleBinding
from shipyard.errors import PermissionDenied, ShipyardError
from shipyard.projects import service as projects
from shipyard.projects.tables import Project

ALL = frozenset(PERMISSIONS)


@dataclass(frozen=True)
class Decision:
    """The outcome of a check. ``error`` is what to raise when not ``allowed``;
    ``project_id`` is known when the project exists (for the access.denied event)."""

    allowed: bool
    permission: str
    project: str | None = None
    project_id: str | None = None
    error: ShipyardError | None = None
    hidden: bool = False  # denied as "does not exist"


def org_permissions(identity: Identity) -> frozenset[str]:
    if identity.is_local:
        return ALL
    return narrowed(permissions_of(identity.org_roles), identity.scopes)


def project_permissions(session: Session, identity: Identity, project: str) -> tuple[frozenset[str], str | None]:
    """What ``identity`` may do in ``project``, and the project's id (None: no such project)."""
    if identity.is_local:
        return ALL, session.scalar(select(Project.id).where(Project.name == project))
    row = session.execute(
        select(Project.id, RoleBinding.role)
        .outerjoin(
            RoleBinding,
            and_(RoleBinding.project_id == Project.id, RoleBinding.principal_id == identity.principal_id),
        )
        .where(Project.name == project)
    ).first()
    roles = set(identity.org_roles)
    project_id = None
    if row is not None:
        project_id = row.id
        if row.role:
            roles.add(row.role)
        roles |= identity.group_roles_in(project)
    granted = permissions_of(roles) - ORG_PERMISSIONS
    return narrowed(granted, identity.scopes), project_id


def check_project(session: Session, identity: Identity, permission: str, project: str) -> Decision:
    granted, project_id = project_permissions(session, identity, project)
    if permission in granted:
        return Decision(True, permission, project, project_id)
    if not granted:
        return Decision(False, permission, project, project_id, projects.not_found(project), hidden=True)
    error = PermissionDenied(
        f"'{identity.name}' lacks permission '{permission}' in project '{project}'",
        {"permission": permission, "project": project},
    )
    return Decision(False, permission, project, project_id, error)


def check_org(identity: Identity, permission: str) -> Decision:
    if permission in org_permissions(identity):
        return Decision(True, permission)
    error = PermissionDenied(
        f"'{identity.name}' lacks permission '{permission}' (organisation-wide)",
        {"permission": permission, "project": None},
    )
    return Decision(False, permission, error=error)


def readable_project_ids(session: Session, identity: Identity) -> list[str] | None:
    """Ids of the projects ``identity`` may read; None means every project."""
    if "project.read" in org_permissions(identity):
        return None
    if identity.scopes is not None and "project.read" not in identity.scopes:
        return []
    bound = [
        pid
        for pid, role in session.execute(
            select(RoleBinding.project_id, RoleBinding.role).where(RoleBinding.principal_id == identity.principal_id)
        )
        if "project.read" in permissions_of([role])
    ]
    by_group = {name for name, role in identity.group_bindings if "project.read" in permissions_of([role])}
    if by_group:
        bound += list(session.scalars(select(Project.id).where(Project.name.in_(sorted(by_group)))))
    return bound
