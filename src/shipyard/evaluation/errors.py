"""Errors of the evaluation engine.

::

    ShipyardError
    └── InvalidArgument
        └── EvaluationInputError (also a ValueError)

Input an evaluation cannot use (mismatched lengths, a label outside ``labels``, a missing
target column, scores of the wrong shape) is an :class:`EvaluationInputError`: an
``InvalidArgument`` (400) for the HTTP layer with ``details["field"]`` naming the field, and a
``ValueError`` for plain Python callers.
"""

from __future__ import annotations

from typing import Any

from shipyard.errors import InvalidArgument


class EvaluationInputError(InvalidArgument, ValueError):
    """Input an evaluation cannot use; ``details["field"]`` names the field."""

    def __init__(self, message: str, field: str | None = None, **details: Any) -> None:
        info = dict(details)
        if field is not None:
            info["field"] = field
        super().__init__(message, info)


__all__ = ["EvaluationInputError"]
