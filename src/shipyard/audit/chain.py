"""The chain's canonical encoding (version 1): what exactly is hashed, byte for byte.

An entry's hash is ``sha256(canonical_json(document))`` where the document is::

    {"v": 1, "seq": 7, "prev_hash": "<64 hex>", "at": "2026-12-04T10:00:00.123456Z",
     "actor": "ana", "action": "run.create", "project_id": "<id or null>",
     "object_type": "run", "object_id": "<id>", "request_id": "<id or null>",
     "source": "<address or null>", "change_digest": "<64 hex>"}

and ``change_digest`` is ``sha256(canonical_json(details))``. The first entry's
``prev_hash`` is :data:`GENESIS` (64 zeros).

Canonical JSON: UTF-8, keys sorted, no insignificant whitespace, no ASCII escaping, and
numbers normalised so that a value survives a trip through either database unchanged:
integers within ±2^53 as integers, integral floats within that range as integers, other
numbers as the shortest float that round-trips (PostgreSQL's JSONB keeps ``1.0`` as
``1.0`` but may hand back ``1e20`` as an integer; both encode alike here). NaN and
infinities have no JSON form and are refused. Times are UTC with exactly six fractional
digits, which both SQLite and PostgreSQL store without loss.

Nothing here may change meaning without bumping :data:`HASH_VERSION`: every stored hash
depends on it.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

HASH_VERSION = 1
GENESIS = "0" * 64
MAX_SAFE_INTEGER = 2**53 - 1
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class Linked(Protocol):
    """The fields an entry's hash covers (an ``Event`` row, an API entry, an export line)."""

    @property
    def seq(self) -> int: ...
    @property
    def prev_hash(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def actor(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def project_id(self) -> str | None: ...
    @property
    def object_type(self) -> str: ...
    @property
    def object_id(self) -> str: ...
    @property
    def request_id(self) -> str | None: ...
    @property
    def source(self) -> str | None: ...
    @property
    def change_digest(self) -> str: ...


@dataclass(frozen=True, slots=True)
class EntryFields:
    """Exactly the hashed fields, for callers that have no row at hand (the migration
    that chains pre-existing events, tests)."""

    seq: int
    prev_hash: str
    at: datetime
    actor: str
    action: str
    project_id: str | None
    object_type: str
    object_id: str
    request_id: str | None
    source: str | None
    change_digest: str


class Entry(Linked, Protocol):
    """An entry as verification reads it: the hashed fields, the details they digest, the
    stored hash, and the row id when it came from the database."""

    @property
    def id(self) -> int | None: ...
    @property
    def details(self) -> dict[str, Any]: ...
    @property
    def hash(self) -> str: ...


@dataclass(frozen=True, slots=True)
class ChainEntry(EntryFields):
    """An :class:`Entry` read straight from the database (cheaper than an ORM object)."""

    id: int | None
    details: dict[str, Any]
    hash: str


def _normalise(value: Any) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int) and -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        return value
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            raise ValueError(f"number {value} is out of range for canonical JSON") from None
        if not math.isfinite(number):
            raise ValueError(f"{value!r} has no JSON form")
        if number.is_integer() and abs(number) <= MAX_SAFE_INTEGER:
            return int(number)
        return number
    if isinstance(value, dict):
        return {str(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normalise(v) for v in value]
    raise TypeError(f"{type(value).__name__} has no canonical JSON form")


def canonical_json(value: Any) -> bytes:
    """The one byte encoding of a JSON value that every hash and signature covers."""
    return json.dumps(
        _normalise(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def change_digest(details: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of an event's details."""
    return sha256_hex(canonical_json(details))


def format_time(at: datetime) -> str:
    """UTC, microseconds, ``Z``: the one text form of a time inside hashes and signatures."""
    if at.tzinfo is None:
        raise ValueError("naive datetime in the audit chain; times are UTC-aware")
    return at.astimezone(UTC).strftime(TIME_FORMAT)


def entry_document(entry: Linked) -> dict[str, Any]:
    return {
        "v": HASH_VERSION,
        "seq": entry.seq,
        "prev_hash": entry.prev_hash,
        "at": format_time(entry.at),
        "actor": entry.actor,
        "action": entry.action,
        "project_id": entry.project_id,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "request_id": entry.request_id,
        "source": entry.source,
        "change_digest": entry.change_digest,
    }


def entry_hash(entry: Linked) -> str:
    """The hash an entry must carry: it commits to the entry and, through ``prev_hash``,
    to every entry before it."""
    return sha256_hex(canonical_json(entry_document(entry)))
