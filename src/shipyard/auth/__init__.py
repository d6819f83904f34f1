"""Identity and access: principals (users, service accounts), API tokens, roles and
permissions, OIDC sign-in. See docs/security.md for the model."""

from shipyard.auth.identity import Identity
from shipyard.auth.permissions import (
    ORG_PERMISSIONS,
    ORG_ROLES,
    PERMISSIONS,
    PROJECT_ROLES,
    ROLE_PERMISSIONS,
    ROLES,
)

__all__ = [
    "Identity",
    "ORG_PERMISSIONS",
    "ORG_ROLES",
    "PERMISSIONS",
    "PROJECT_ROLES",
    "ROLES",
    "ROLE_PERMISSIONS",
]
