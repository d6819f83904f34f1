"""The canonical encoding: stable bytes, numbers and times that survive either database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from shipyard.audit.chain import GENESIS, EntryFields, canonical_json, change_digest, entry_hash, format_time
from shipyard.audit.checkpoints import Notary
from shipyard.events import service as events
from shipyard.events.context import Actor
from shipyard.events.tables import Event
from shipyard.store.engine import Database

from .conftest import verify

AT = datetime(2026, 12, 4, 10, 0, 0, 123456, tzinfo=UTC)


def fields(**changes: object) -> EntryFields:
    base: dict[str, object] = {
        "seq": 1,
        "prev_hash": GENESIS,
        "at": AT,
        "actor": "ana",
        "action": "run.create",
        "project_id": "p" * 32,
        "object_type": "run",
        "object_id": "r1",
        "request_id": "req-1",
        "source": "10.0.0.7",
        "change_digest": change_digest({"name": "x"}),
    }
    return EntryFields(**(base | changes))  # type: ignore[arg-type]


def test_canonical_json_sorts_keys_and_drops_whitespace() -> None:
    assert canonical_json({"b": 1, "a": [1, {"d": None, "c": True}]}) == b'{"a":[1,{"c":true,"d":null}],"b":1}'


def test_canonical_json_keeps_unicode_as_utf8() -> None:
    assert canonical_json({"name": "Zoë ✓"}) == '{"name":"Zoë ✓"}'.encode()


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (1.0, 1),  # JSONB may hand back either
        (-0.0, 0),
        (1e15, 1_000_000_000_000_000),
        (2.0**60, 2**60),  # beyond 2^53 both become the same float
        (1e300, 10**300),
    ],
)
def test_numbers_that_are_equal_encode_alike(a: float, b: int) -> None:
    assert canonical_json({"v": a}) == canonical_json({"v": b})


def test_fractions_keep_their_shortest_form() -> None:
    assert canonical_json([0.1, 1.5, 1e-7, 1e20]) == b"[0.1,1.5,1e-07,1e+20]"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 10**400, object()])
def test_values_without_a_json_form_are_refused(bad: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        canonical_json({"v": bad})


def test_time_is_utc_with_six_fraction_digits() -> None:
    assert format_time(AT) == "2026-12-04T10:00:00.123456Z"
    assert format_time(datetime(2026, 12, 4, 11, tzinfo=timezone(timedelta(hours=1)))) == "2026-12-04T10:00:00.000000Z"
    with pytest.raises(ValueError, match="naive"):
        format_time(datetime(2026, 12, 4))


def test_entry_hash_is_a_fixed_function_of_version_1() -> None:
    """A golden value: if this changes, every stored chain breaks. Bump HASH_VERSION instead."""
    assert change_digest({"name": "x"}) == "0229d37e33daae149bf40543a5ce1db4459d10f830d5139279aa2bfd5f6485a1"
    assert entry_hash(fields()) == GOLDEN


GOLDEN = "1d22aa73ce310606eeef0f57df71e8abf05e0af613ed1ee57bcf0ea4bf5dd843"


@pytest.mark.parametrize(
    "change",
    [
        {"seq": 2},
        {"prev_hash": "1" * 64},
        {"at": AT + timedelta(microseconds=1)},
        {"actor": "bob"},
        {"action": "run.delete"},
        {"project_id": None},
        {"object_type": "model"},
        {"object_id": "r2"},
        {"request_id": None},
        {"source": "10.0.0.8"},
        {"change_digest": change_digest({"name": "y"})},
    ],
)
def test_every_field_is_covered(change: dict[str, object]) -> None:
    assert entry_hash(fields(**change)) != entry_hash(fields())


def test_none_and_empty_string_differ() -> None:
    assert entry_hash(fields(source=None)) != entry_hash(fields(source=""))


TRICKY = {
    "float": 0.1,
    "integral_float": 3.0,
    "big": 1e20,
    "negative_zero": -0.0,
    "nested": {"z": [1, 2.5, {"y": None}], "a": "ünïcødé ✓"},
    "bool": True,
    "empty": {},
}


def test_a_stored_entry_rehashes_identically_after_the_database_round_trip(db: Database, notary: Notary) -> None:
    """What the appender hashed before the INSERT equals what verification recomputes from
    the row read back: same digest of JSON/JSONB details, same microsecond time."""
    with db.session() as session:
        events.record(
            session,
            Actor("ana", request_id="r", source="::1"),
            "test.tricky",
            project_id=None,
            object_type="thing",
            object_id="1",
            details=TRICKY,
        )
    with db.session(readonly=True) as session:
        event = session.scalars(select(Event).where(Event.action == "test.tricky")).one()
        assert event.at.microsecond != 0 or event.at.second != 0
        assert change_digest(event.details) == event.change_digest
        assert entry_hash(event) == event.hash
        assert event.source == "::1"
    assert verify(db, notary).ok
