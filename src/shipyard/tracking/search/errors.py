"""Search syntax errors: one message shape that points at the offending token.

Every mistake in a filter or an order_by entry is an :class:`~shipyard.errors.InvalidArgument`
whose message reads::

    invalid filter at column 13: expected a comparator after 'metrics.auc', got 'banana'
      metrics.auc banana 0.5
                  ^

and whose details name the field, the 1-based column and the token found there:
``{"field": "filter", "position": 13, "token": "banana"}`` (``order_by`` errors add the
``index`` of the entry).
"""

from __future__ import annotations

from typing import Any

from shipyard.errors import InvalidArgument

# The caret line shows at most this much of the text around the error.
_WINDOW = 60


def syntax_error(
    field: str,
    text: str,
    offset: int,
    reason: str,
    token: str,
    *,
    index: int | None = None,
) -> InvalidArgument:
    """An ``InvalidArgument`` for ``text`` with a caret under 0-based ``offset``."""
    column = offset + 1
    where = field if index is None else f"{field}[{index}]"
    line, caret_at = _excerpt(text, offset)
    message = f"invalid {where} at column {column}: {reason}\n  {line}\n  {' ' * caret_at}^"
    details: dict[str, Any] = {"field": field, "position": column, "token": token}
    if index is not None:
        details["index"] = index
    return InvalidArgument(message, details)


def _excerpt(text: str, offset: int) -> tuple[str, int]:
    # one line, one column per character: control characters and lone surrogates become spaces
    flat = "".join(" " if ch < " " or "\ud800" <= ch <= "\udfff" else ch for ch in text)
    if len(flat) <= _WINDOW:
        return flat, offset
    start = max(0, min(offset - _WINDOW // 2, len(flat) - _WINDOW))
    end = start + _WINDOW
    prefix = "..." if start > 0 else ""
    suffix = "..." if end < len(flat) else ""
    return prefix + flat[start:end] + suffix, offset - start + len(prefix)


def describe(token_text: str) -> str:
    """How a token is named in a message: quoted text, or 'end of filter'."""
    return "end of input" if token_text == "" else repr(token_text)
