"""Keyset pagination with opaque cursor tokens.

A token encodes the sort key of the last row served plus a fingerprint of the list it
came from, so a token replayed against another list, or garbled, is a clear
``INVALID_ARGUMENT`` naming ``page_token``. Tokens are not signed: editing one only moves
where a list the caller may read anyway resumes.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from shipyard.errors import InvalidArgument, InvalidPageToken

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_page_token: str | None


def _encode_value(v: Any) -> Any:
    if isinstance(v, datetime):
        return {"dt": v.isoformat()}
    return v


def _decode_value(v: Any) -> Any:
    if isinstance(v, dict) and set(v) == {"dt"}:
        return datetime.fromisoformat(v["dt"])
    return v


def encode_token(scope: str, values: Sequence[Any]) -> str:
    payload = {"s": _fingerprint(scope), "k": [_encode_value(v) for v in values]}
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(scope: str, token: str, width: int) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
        if payload["s"] != _fingerprint(scope) or len(payload["k"]) != width:
            raise ValueError("token from another list")
        return [_decode_value(v) for v in payload["k"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidPageToken(token) from exc


def _fingerprint(scope: str) -> str:
    return hashlib.sha256(scope.encode()).hexdigest()[:12]


def check_page_size(max_results: int | None, default: int, limit: int) -> int:
    if max_results is None:
        return default
    if max_results < 1 or max_results > limit:
        raise InvalidArgument(
            f"max_results must be between 1 and {limit}, got {max_results}",
            {"field": "max_results", "min": 1, "max": limit},
        )
    return max_results


def paginate(
    session: Session,
    stmt: Select[Any],
    keys: Sequence[InstrumentedAttribute[Any]],
    *,
    scope: str,
    page_token: str | None,
    page_size: int,
    key_of: Callable[[R], Sequence[Any]],
    descending: bool = False,
) -> Page[R]:
    """Run ``stmt`` ordered by ``keys`` (the last must be unique) and return one page.

    ``scope`` names the list (for example ``"projects"`` or ``"blobs:<project id>"``);
    tokens only work for the list that issued them.
    """
    if page_token:
        last = decode_token(scope, page_token, len(keys))
        stmt = stmt.where(_after(keys, last, descending))
    order = [k.desc() if descending else k.asc() for k in keys]
    rows: list[R] = list(session.scalars(stmt.order_by(*order).limit(page_size + 1)))
    has_more = len(rows) > page_size
    rows = rows[:page_size]
    token = encode_token(scope, key_of(rows[-1])) if has_more and rows else None
    return Page(items=rows, next_page_token=token)


def _after(keys: Sequence[InstrumentedAttribute[Any]], last: Sequence[Any], descending: bool) -> Any:
    # (a, b) > (x, y)  ==  a > x OR (a = x AND b > y); spelled out so every backend indexes it.
    clauses = []
    for i, key in enumerate(keys):
        equal = [keys[j] == last[j] for j in range(i)]
        step = key < last[i] if descending else key > last[i]
        clauses.append(and_(*equal, step))
    return or_(*clauses)
