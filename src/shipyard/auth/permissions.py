"""Permissions, roles, and the one table that maps roles to permissions.

A permission is a named string (``registry.write``). A role is a named set of
permissions. :data:`ROLE_PERMISSIONS` is the only place that says which role holds
which permission; the matrix in ``docs/security.md`` is generated from it
(:func:`matrix_markdown`) and a test checks that the two are equal.

Two kinds of role:

* **organisation roles** (``org_admin``, ``auditor``) are stored on the principal and
  apply to every project, plus the organisation-wide permissions (:data:`ORG_PERMISSIONS`);
* **project roles** (``viewer`` … ``admin``, and the narrow service-account roles
  ``invoker`` and ``runner``) are granted by a binding in one project and apply there only.

A token's scopes can only narrow what its owner's roles grant: the effective set is the
intersection.
"""

from __future__ import annotations

from collections.abc import Iterable

# Every permission, with what it allows. Routes declare one of these (or public /
# authenticated, see shipyard.server.authz).
PERMISSIONS: dict[str, str] = {
    "project.read": "see the project and its members",
    "project.write": "change the project's description",
    "project.admin": "add, change and remove the project's members",
    "tracking.read": "read experiments, runs, metrics, run files",
    "tracking.write": "create and change experiments and runs; log metrics, params, tags, inputs, run files",
    "artifacts.read": "list and download the project's blobs",
    "artifacts.write": "upload blobs to the project",
    "registry.read": "read registered models, versions, aliases and their history",
    "registry.write": (
        "register models and versions, move aliases (protected ones by request), archive, delete, restore"
    ),
    "registry.approve": "approve or reject a requested change to a protected alias (separate from requesting it)",
    "registry.protect": "protect alias names in the project (moving them then needs an approval) and lift that",
    "registry.gate": "attach gate policies to aliases and override a failing gate with a written justification",
    "endpoint.read": "read inference endpoints, their traffic and their rollout history",
    "endpoint.write": "apply endpoint specs (start rollouts), promote and roll back rollouts",
    "model.invoke": "call the project's inference endpoints (not manage them)",
    "monitor.read": "read monitors, their results, the prediction log, feedback, alerts and reports",
    "monitor.write": "create, change and run monitors; query the prediction log",
    "monitor.feedback": "send ground-truth labels (feedback) for predictions",
    "alerts.write": "create and change alert rules, SLOs and webhook receivers",
    "jobs.submit": "submit jobs (training, batch scoring) in the project",
    "audit.read": "read the event trail: a project's with a project role, the whole audit log with an org role",
    "project.create": "create projects (organisation-wide)",
    "identity.read": "list users, service accounts and their tokens (organisation-wide)",
    "identity.admin": "create and change users and service accounts; issue and revoke their tokens (organisation-wide)",
}

# Permissions that only make sense organisation-wide: no project role carries them.
ORG_PERMISSIONS: frozenset[str] = frozenset({"project.create", "identity.read", "identity.admin"})

ORG_ROLES: tuple[str, ...] = ("org_admin", "auditor")
PROJECT_ROLES: tuple[str, ...] = ("viewer", "developer", "maintainer", "admin", "invoker", "runner")
ROLES: tuple[str, ...] = (*PROJECT_ROLES, *ORG_ROLES)

_VIEWER = frozenset(
    {"project.read", "tracking.read", "artifacts.read", "registry.read", "endpoint.read", "monitor.read"}
)
_DEVELOPER = _VIEWER | {
    "tracking.write",
    "artifacts.write",
    "registry.write",
    "model.invoke",
    "jobs.submit",
    "monitor.write",
    "monitor.feedback",
}
_MAINTAINER = _DEVELOPER | {
    "project.write",
    "registry.approve",
    "registry.protect",
    "registry.gate",
    "audit.read",
    "endpoint.write",
    "alerts.write",
}

# THE table. Everything else (checks, docs, tests) reads it.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "viewer": _VIEWER,
    "developer": _DEVELOPER,
    "maintainer": _MAINTAINER,
    "admin": _MAINTAINER | {"project.admin"},
    # Service-account roles: exactly what an inference client / a training job needs.
    "invoker": frozenset({"model.invoke", "monitor.feedback"}),
    "runner": frozenset(
        {"project.read", "tracking.read", "tracking.write", "artifacts.read", "artifacts.write", "jobs.submit"}
    ),
    "org_admin": frozenset(PERMISSIONS),
    "auditor": frozenset(p for p in PERMISSIONS if p.endswith(".read")),
}


def permissions_of(roles: Iterable[str]) -> frozenset[str]:
    """The union of what ``roles`` grant (unknown names grant nothing)."""
    granted: frozenset[str] = frozenset()
    for role in roles:
        granted |= ROLE_PERMISSIONS.get(role, frozenset())
    return granted


def narrowed(granted: frozenset[str], scopes: frozenset[str] | None) -> frozenset[str]:
    """What a token may do: its owner's permissions, cut down to its scopes if it has any."""
    return granted if scopes is None else granted & scopes


def matrix_markdown() -> str:
    """The permission matrix as a Markdown table (pasted into docs/security.md)."""
    header = "| permission | " + " | ".join(f"`{r}`" for r in ROLES) + " | allows |"
    rule = "|---|" + "---|" * len(ROLES) + "---|"
    rows = [
        f"| `{perm}` | "
        + " | ".join("✓" if perm in ROLE_PERMISSIONS[r] else "" for r in ROLES)
        + f" | {PERMISSIONS[perm]} |"
        for perm in PERMISSIONS
    ]
    return "\n".join([header, rule, *rows])
