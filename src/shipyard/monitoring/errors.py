"""Errors of the monitoring engine.

::

    ShipyardError
    └── InvalidArgument
        └── MonitoringInputError (also a ValueError)

Bad input to a drift or quality computation (an empty or all-missing column, a column
missing from one side, a method that does not fit the column's kind) is a
:class:`MonitoringInputError`: an ``InvalidArgument`` for the HTTP layer (a 4xx naming the
column in ``details``) and a ``ValueError`` for plain Python callers.
"""

from __future__ import annotations

from typing import Any

from shipyard.errors import InvalidArgument


class MonitoringInputError(InvalidArgument, ValueError):
    """Input a drift or quality check cannot use; ``details["column"]`` names the column."""

    def __init__(self, message: str, column: str | None = None, **details: Any) -> None:
        info = dict(details)
        if column is not None:
            info["column"] = column
        super().__init__(message, info)


__all__ = ["MonitoringInputError"]
