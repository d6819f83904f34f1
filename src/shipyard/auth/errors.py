"""The identity domain's own error. Everything else it raises is from :mod:`shipyard.errors`::

ShipyardError
├── Unauthenticated        UNAUTHENTICATED     401 + WWW-Authenticate: Bearer
│   └── InvalidCredential  UNAUTHENTICATED     401 (says "invalid", never why)
├── PermissionDenied       PERMISSION_DENIED   403 (names the permission and the project)
└── TooManyFailedAttempts  RESOURCE_EXHAUSTED  429 + Retry-After (failed authentications)
"""

from __future__ import annotations

from shipyard.errors import ShipyardError, Unauthenticated


class TooManyFailedAttempts(ShipyardError):
    code = "RESOURCE_EXHAUSTED"

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            f"too many failed authentications from this address; retry in {retry_after_s} s",
            {"retry_after_s": retry_after_s},
        )
        self.retry_after_s = retry_after_s


class InvalidCredential(Unauthenticated):
    """A credential that does not authenticate. The caller learns only that it is
    invalid (never whether its prefix exists); ``why`` goes to the server log."""

    def __init__(self, why: str) -> None:
        super().__init__("the bearer token is not valid", {"reason": "invalid"})
        self.why = why
