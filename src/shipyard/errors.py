"""Shipyard's error tree and the one table that maps error codes to HTTP statuses.

Every error a user can see is a :class:`ShipyardError`. Each class carries its
machine-readable ``code``; the HTTP status comes from :data:`CODE_TO_STATUS`, the
single table that every transport (REST, CLI exit codes, the SDK) shares::

    ShipyardError
    ├── InvalidArgument        INVALID_ARGUMENT      400
    │   └── InvalidPageToken   INVALID_ARGUMENT      400
    ├── Unauthenticated        UNAUTHENTICATED       401
    ├── PermissionDenied       PERMISSION_DENIED     403
    ├── NotFound               NOT_FOUND             404
    ├── MethodNotAllowed       METHOD_NOT_ALLOWED    405
    ├── Conflict               CONFLICT              409
    │   └── AlreadyExists      ALREADY_EXISTS        409
    ├── PreconditionFailed     PRECONDITION_FAILED   412
    ├── PayloadTooLarge        PAYLOAD_TOO_LARGE     413
    ├── RangeNotSatisfiable    RANGE_NOT_SATISFIABLE 416
    ├── ValidationFailed       VALIDATION_FAILED     422
    ├── (serving) UnsupportedMediaType UNSUPPORTED_MEDIA_TYPE 415, Overloaded RESOURCE_EXHAUSTED 429,
    │   DeadlineExceeded DEADLINE_EXCEEDED 504, InsufficientMemory INSUFFICIENT_MEMORY 507:
    │   classes in shipyard.serving.errors, codes here
    ├── DigestMismatch         DIGEST_MISMATCH       500   (stored bytes do not match their sha256)
    ├── SchemaOutOfDate        SCHEMA_OUT_OF_DATE    503   (database needs `shipyard db upgrade`)
    ├── SchemaTooNew           SCHEMA_TOO_NEW        503   (database was migrated by a newer Shipyard)
    ├── Unavailable            UNAVAILABLE           503
    └── InternalError          INTERNAL              500

Third-party exceptions (SQLAlchemy's ``IntegrityError``, fsspec's ``FileNotFoundError``)
are translated into this tree at the boundary that raised them (the store, the
artifact backend), never in routers.
"""

from __future__ import annotations

from typing import Any, ClassVar

CODE_TO_STATUS: dict[str, int] = {
    "INVALID_ARGUMENT": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "CONFLICT": 409,
    "ALREADY_EXISTS": 409,
    "PRECONDITION_FAILED": 412,
    "PAYLOAD_TOO_LARGE": 413,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "RANGE_NOT_SATISFIABLE": 416,
    "VALIDATION_FAILED": 422,
    "RESOURCE_EXHAUSTED": 429,
    "DIGEST_MISMATCH": 500,
    "INTERNAL": 500,
    "SCHEMA_OUT_OF_DATE": 503,
    "SCHEMA_TOO_NEW": 503,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
    "INSUFFICIENT_MEMORY": 507,
}


def status_for(code: str) -> int:
    """The HTTP status for an error code; unknown codes are internal errors."""
    return CODE_TO_STATUS.get(code, 500)


class ShipyardError(Exception):
    """Base of every error Shipyard reports to a user."""

    code: ClassVar[str] = "INTERNAL"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}

    @property
    def status(self) -> int:
        return status_for(self.code)

    def to_dict(self) -> dict[str, Any]:
        """The body of the error envelope: ``{"error": <this>}``."""
        return {"code": self.code, "message": self.message, "details": self.details}

    def __str__(self) -> str:
        return self.message


class InvalidArgument(ShipyardError):
    code = "INVALID_ARGUMENT"


class InvalidPageToken(InvalidArgument):
    def __init__(self, token: str) -> None:
        super().__init__(
            "page_token is not a token this list returned; start again without it",
            {"field": "page_token"},
        )
        # The token itself is user-controlled noise; keep only its length.
        self.details["length"] = len(token)


class Unauthenticated(ShipyardError):
    code = "UNAUTHENTICATED"


class PermissionDenied(ShipyardError):
    code = "PERMISSION_DENIED"


class NotFound(ShipyardError):
    code = "NOT_FOUND"


class MethodNotAllowed(ShipyardError):
    code = "METHOD_NOT_ALLOWED"


class Conflict(ShipyardError):
    code = "CONFLICT"


class AlreadyExists(Conflict):
    code = "ALREADY_EXISTS"


class PreconditionFailed(ShipyardError):
    code = "PRECONDITION_FAILED"


class PayloadTooLarge(ShipyardError):
    code = "PAYLOAD_TOO_LARGE"


class RangeNotSatisfiable(ShipyardError):
    code = "RANGE_NOT_SATISFIABLE"


class ValidationFailed(ShipyardError):
    code = "VALIDATION_FAILED"


class DigestMismatch(ShipyardError):
    code = "DIGEST_MISMATCH"

    def __init__(self, expected: str, actual: str, where: str = "blob") -> None:
        super().__init__(
            f"{where} sha256:{expected} is corrupted: its bytes hash to sha256:{actual}",
            {"expected": expected, "actual": actual},
        )
        self.expected = expected
        self.actual = actual


class SchemaOutOfDate(ShipyardError):
    code = "SCHEMA_OUT_OF_DATE"


class SchemaTooNew(ShipyardError):
    code = "SCHEMA_TOO_NEW"


class Unavailable(ShipyardError):
    code = "UNAVAILABLE"


class InternalError(ShipyardError):
    code = "INTERNAL"


_BY_CODE: dict[str, type[ShipyardError]] = {}
for _cls in (
    InvalidArgument,
    Unauthenticated,
    PermissionDenied,
    NotFound,
    MethodNotAllowed,
    Conflict,
    AlreadyExists,
    PreconditionFailed,
    PayloadTooLarge,
    RangeNotSatisfiable,
    ValidationFailed,
    DigestMismatch,
    SchemaOutOfDate,
    SchemaTooNew,
    Unavailable,
    InternalError,
):
    _BY_CODE.setdefault(_cls.code, _cls)


def from_envelope(body: dict[str, Any], status: int) -> ShipyardError:
    """Rebuild the error a server reported, so SDK users catch the same classes."""
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return InternalError(f"server answered {status} without an error envelope")
    code = str(err.get("code", "INTERNAL"))
    message = str(err.get("message", ""))
    details = err.get("details") or {}
    cls = _BY_CODE.get(code, InternalError)
    exc = ShipyardError.__new__(cls)
    ShipyardError.__init__(exc, message, details if isinstance(details, dict) else {})
    if isinstance(exc, DigestMismatch):
        exc.expected = str(exc.details.get("expected", ""))
        exc.actual = str(exc.details.get("actual", ""))
    return exc


__all__ = [
    "AlreadyExists",
    "CODE_TO_STATUS",
    "Conflict",
    "DigestMismatch",
    "InternalError",
    "InvalidArgument",
    "InvalidPageToken",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "PreconditionFailed",
    "RangeNotSatisfiable",
    "SchemaOutOfDate",
    "SchemaTooNew",
    "ShipyardError",
    "Unauthenticated",
    "Unavailable",
    "ValidationFailed",
    "from_envelope",
    "status_for",
]
