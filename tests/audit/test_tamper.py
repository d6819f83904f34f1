"""Tampering with the stored chain, each kind detected and the first broken entry named.

The attacker here has write access to the database (plain SQL, behind the appender's
back) but not the signing key, which lives outside it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, update

from shipyard.audit import service as audit
from shipyard.audit.chain import EntryFields, entry_hash
from shipyard.audit.checkpoints import Notary
from shipyard.audit.head import Head
from shipyard.audit.keys import KeyRing, Signer
from shipyard.audit.schemas import ProblemKind, VerifyReport
from shipyard.events.tables import Event
from shipyard.store.engine import Database

from .conftest import record, rehash, rows, sql, verify


@pytest.fixture
def chain(db: Database, notary: Notary) -> Database:
    """25 entries; checkpoints at 10 and 20 (interval 10)."""
    record(db, 25)
    assert verify(db, notary).ok
    return db


def event_id(db: Database, seq: int) -> int:
    [(found,)] = rows(db, "SELECT id FROM events WHERE seq = :seq", seq=seq)
    return int(found)


def broken(report: VerifyReport, kind: ProblemKind, seq: int) -> str:
    assert not report.ok
    assert report.problem is not None, report
    assert (report.problem.kind, report.problem.seq) == (kind, seq), report.problem
    return report.problem.message


@pytest.mark.parametrize(
    ("column", "value"),
    [("actor", "mallory"), ("object_id", "other"), ("source", "192.0.2.1"), ("request_id", None)],
)
def test_an_edited_field_is_named(chain: Database, notary: Notary, column: str, value: Any) -> None:
    sql(chain, f"UPDATE events SET {column} = :v WHERE seq = 7", v=value)
    message = broken(verify(chain, notary), ProblemKind.HASH_MISMATCH, 7)
    assert f"event id {event_id(chain, 7)}" in message


def test_edited_details_are_named(chain: Database, notary: Notary) -> None:
    with chain.session() as session:
        session.execute(update(Event).where(Event.seq == 12).values(details={"i": 999}))
    assert "details" in broken(verify(chain, notary), ProblemKind.HASH_MISMATCH, 12)


def test_an_edited_time_is_named(chain: Database, notary: Notary) -> None:
    with chain.session() as session:
        at = session.scalar(select(Event.at).where(Event.seq == 3))
        assert at is not None
        session.execute(update(Event).where(Event.seq == 3).values(at=at.replace(year=2020)))
    broken(verify(chain, notary), ProblemKind.HASH_MISMATCH, 3)


def test_a_deleted_middle_entry_is_a_gap(chain: Database, notary: Notary) -> None:
    sql(chain, "DELETE FROM events WHERE seq = 13")
    assert "seq 13 missing" in broken(verify(chain, notary), ProblemKind.GAP, 13)


def test_a_deleted_and_renumbered_entry_breaks_the_link(chain: Database, notary: Notary) -> None:
    sql(chain, "DELETE FROM events WHERE seq = 13")
    for seq in range(14, 26):
        sql(chain, "UPDATE events SET seq = :new WHERE seq = :old", new=seq - 1, old=seq)
    broken(verify(chain, notary), ProblemKind.BROKEN_LINK, 13)


def test_deleting_the_newest_entries_is_truncation(chain: Database, notary: Notary) -> None:
    sql(chain, "DELETE FROM events WHERE seq > 22")
    assert "head" in broken(verify(chain, notary), ProblemKind.TRUNCATED, 23)


def test_truncation_with_the_head_moved_back_is_caught_by_a_checkpoint(chain: Database, notary: Notary) -> None:
    sql(chain, "DELETE FROM events WHERE seq > 14")
    rehash(chain, 14)  # head back to 14, consistent
    message = broken(verify(chain, notary), ProblemKind.TRUNCATED, 15)
    assert "truncated below checkpoint" in message
    assert "tree size 20" in message


def test_truncating_the_unsigned_tail_is_caught_after_an_on_demand_checkpoint(chain: Database, notary: Notary) -> None:
    with chain.session() as session:
        audit.issue_checkpoint(session, notary)  # `shipyard audit checkpoint`: signs 25
    sql(chain, "DELETE FROM events WHERE seq > 23")
    rehash(chain, 23)
    assert "tree size 25" in broken(verify(chain, notary), ProblemKind.TRUNCATED, 24)


def test_swapped_seq_values_are_reordering(chain: Database, notary: Notary) -> None:
    sql(chain, "UPDATE events SET seq = -1 WHERE seq = 5")
    sql(chain, "UPDATE events SET seq = 5 WHERE seq = 6")
    sql(chain, "UPDATE events SET seq = 6 WHERE seq = -1")
    assert "reordered" in broken(verify(chain, notary), ProblemKind.REORDERED, 5)


def test_rows_swapped_wholesale_are_reordering(chain: Database, notary: Notary) -> None:
    """Every column but the row id exchanged: the seq walk is intact, the id order is not."""
    columns = [c for c in Event.__table__.columns.keys() if c != "id"]  # noqa: SIM118
    with chain.engine.connect() as conn:
        a, b = (dict(conn.execute(select(Event.__table__).where(Event.seq == seq)).one()._mapping) for seq in (8, 9))
    sql(chain, "UPDATE events SET seq = -1 WHERE seq = 8")
    sql(chain, "UPDATE events SET seq = -2 WHERE seq = 9")
    with chain.session() as session:
        for target, source in ((a, b), (b, a)):
            values = {c: source[c] for c in columns}
            session.execute(update(Event).where(Event.id == target["id"]).values(**values))
    assert "swapped" in broken(verify(chain, notary), ProblemKind.REORDERED, 9)


def test_a_wholesale_rewrite_is_caught_by_the_signed_checkpoint(chain: Database, notary: Notary) -> None:
    with chain.session() as session:
        session.execute(update(Event).where(Event.seq == 3).values(actor="mallory"))
    rehash(chain, 3)
    message = broken(verify(chain, notary), ProblemKind.CHECKPOINT_MISMATCH, 10)
    assert "rewritten at or before seq 10" in message


def test_a_checkpoint_edited_to_match_a_rewrite_has_a_bad_signature(chain: Database, notary: Notary) -> None:
    with chain.session() as session:
        session.execute(update(Event).where(Event.seq == 3).values(actor="mallory"))
    rehash(chain, 3)
    for size in (10, 20):
        [(new_hash,)] = rows(chain, "SELECT hash FROM events WHERE seq = :s", s=size)
        sql(chain, "UPDATE audit_checkpoints SET head_hash = :h WHERE tree_size = :s", h=new_hash, s=size)
    assert "does not verify" in broken(verify(chain, notary), ProblemKind.BAD_SIGNATURE, 10)


def test_a_checkpoint_forged_with_another_key_is_refused(chain: Database, notary: Notary) -> None:
    forger = Notary(signer=Signer(Ed25519PrivateKey.generate()), interval=10)
    with chain.session() as session:
        forger.sign(session, Head(seq=25, hash="f" * 64, checkpoint_seq=20))
    message = broken(verify(chain, notary), ProblemKind.BAD_SIGNATURE, 25)
    assert f"untrusted key {forger.signer.key_id}" in message


def test_deleted_checkpoints_are_missed(chain: Database, notary: Notary) -> None:
    sql(chain, "DELETE FROM audit_checkpoints")
    assert "no checkpoint" in broken(verify(chain, notary), ProblemKind.MISSING_CHECKPOINT, 1)


def test_deleting_checkpoints_does_not_hide_a_rewrite(chain: Database, notary: Notary) -> None:
    sql(chain, "DELETE FROM audit_checkpoints WHERE tree_size = 20")
    with chain.session() as session:
        session.execute(update(Event).where(Event.seq == 15).values(details={"i": "forged"}))
    rehash(chain, 15)
    broken(verify(chain, notary), ProblemKind.MISSING_CHECKPOINT, 11)


def test_a_head_that_does_not_match_the_last_entry(chain: Database, notary: Notary) -> None:
    sql(chain, "UPDATE audit_head SET hash = :h", h="e" * 64)
    broken(verify(chain, notary), ProblemKind.HEAD_MISMATCH, 25)


def test_an_appended_forgery_without_the_head_is_caught(chain: Database, notary: Notary) -> None:
    with chain.session() as session:
        last = session.scalars(select(Event).where(Event.seq == 25)).one()
        fields = {k: getattr(last, k) for k in EntryFields.__dataclass_fields__} | {"seq": 26, "prev_hash": last.hash}
        forged = EntryFields(**fields)
        session.add(
            Event(
                **{k: getattr(forged, k) for k in EntryFields.__dataclass_fields__},
                details=last.details,
                hash=entry_hash(forged),
            )
        )
    broken(verify(chain, notary), ProblemKind.HEAD_MISMATCH, 26)


def test_retired_keys_still_verify_their_checkpoints(chain: Database, notary: Notary) -> None:
    new = Notary(signer=Signer(Ed25519PrivateKey.generate()), interval=10)
    with chain.session() as session:
        audit.issue_checkpoint(session, new)
    report = verify(chain, new)  # trusts only the new key
    broken(report, ProblemKind.BAD_SIGNATURE, 10)
    both = Notary(signer=new.signer, interval=10, keyring=KeyRing([new.signer.public_key, notary.signer.public_key]))
    assert verify(chain, both).ok


def test_details_json_is_what_the_digest_covers(chain: Database, notary: Notary) -> None:
    """Re-serialising the same details differently (key order, spacing) is not tampering."""
    if chain.dialect == "sqlite":
        sql(chain, "UPDATE events SET details = :d WHERE seq = 4", d=json.dumps({"i": 3}, indent=4))
    assert verify(chain, notary).ok


def test_a_forged_newest_checkpoint_is_named_not_its_missing_coverage(chain: Database, notary: Notary) -> None:
    sql(chain, "UPDATE audit_checkpoints SET head_hash = :h WHERE tree_size = 20", h="a" * 64)
    broken(verify(chain, notary), ProblemKind.BAD_SIGNATURE, 20)
