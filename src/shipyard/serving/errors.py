"""The data plane's own errors, and the one table that turns any error into a status.

The serving protocols (Open Inference Protocol v2, KServe V1, MLflow scoring) all say
*400* for bad input, so ``VALIDATION_FAILED`` answers 400 here rather than the control
plane's 422. Overload and deadlines get their own codes::

    ShipyardError
    ├── Overloaded           RESOURCE_EXHAUSTED       429 + Retry-After (queue full)
    ├── DeadlineExceeded     DEADLINE_EXCEEDED        504 (dropped before compute, or compute too slow)
    ├── UnsupportedMediaType UNSUPPORTED_MEDIA_TYPE   415
    ├── NotReady             UNAVAILABLE              503 + Retry-After (loading, failed, stopping)
    ├── InsufficientMemory   INSUFFICIENT_MEMORY      507 (a load does not fit the memory budget)
    └── ModelFailed          INTERNAL                 500 (the model itself raised)
"""

from __future__ import annotations

from typing import Any

from shipyard.errors import ShipyardError, Unavailable, status_for

# The only departure from shipyard.errors.CODE_TO_STATUS: the inference protocols say 400.
_STATUS_OVERRIDES = {"VALIDATION_FAILED": 400}


def http_status(error: ShipyardError) -> int:
    """The status a serving endpoint answers for ``error``."""
    return _STATUS_OVERRIDES.get(error.code) or status_for(error.code)


class Overloaded(ShipyardError):
    code = "RESOURCE_EXHAUSTED"

    def __init__(self, message: str, retry_after_s: int, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details)
        self.retry_after_s = retry_after_s


class DeadlineExceeded(ShipyardError):
    code = "DEADLINE_EXCEEDED"


class UnsupportedMediaType(ShipyardError):
    code = "UNSUPPORTED_MEDIA_TYPE"


class NotReady(Unavailable):
    retry_after_s = 1


class InsufficientMemory(ShipyardError):
    """A model cannot be loaded within the memory budget, even after evicting every idle,
    unpinned model; the details give the budget, the use and the need in bytes."""

    code = "INSUFFICIENT_MEMORY"


class ModelFailed(ShipyardError):
    code = "INTERNAL"


def retry_after(error: ShipyardError) -> int | None:
    """Seconds for a ``Retry-After`` header, for the errors that invite a retry."""
    if isinstance(error, Overloaded):
        return error.retry_after_s
    if isinstance(error, NotReady):
        return error.retry_after_s
    return None


def rejection_reason(status: int) -> str | None:
    """The ``reason`` label of ``shipyard_rejected_requests_total`` for a refused request's status."""
    if status == 429:
        return "queue_full"
    if status == 504:
        return "deadline"
    if status == 503:
        return "not_ready"
    if 400 <= status < 500:
        return "invalid"
    return None


__all__ = [
    "DeadlineExceeded",
    "InsufficientMemory",
    "ModelFailed",
    "NotReady",
    "Overloaded",
    "UnsupportedMediaType",
    "http_status",
    "rejection_reason",
    "retry_after",
]
