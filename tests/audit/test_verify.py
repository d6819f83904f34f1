"""The verifier on synthetic chains: every verdict, without a database."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shipyard.audit.chain import GENESIS, ChainEntry, change_digest, entry_hash
from shipyard.audit.checkpoints import payload
from shipyard.audit.head import Head
from shipyard.audit.keys import KeyRing, Signer
from shipyard.audit.schemas import CheckpointOut, ProblemKind, VerifyReport
from shipyard.audit.verify import LOOKAHEAD, Verifier, run

T0 = datetime(2026, 12, 4, tzinfo=UTC)
SIGNER = Signer(Ed25519PrivateKey.generate())
KEYS = KeyRing([SIGNER.public_key])


def chain(n: int) -> list[ChainEntry]:
    entries: list[ChainEntry] = []
    prev = GENESIS
    for seq in range(1, n + 1):
        details = {"n": seq}
        draft = ChainEntry(
            seq=seq,
            prev_hash=prev,
            at=T0 + timedelta(seconds=seq),
            actor="ana",
            action="test",
            project_id=None,
            object_type="t",
            object_id=str(seq),
            request_id=None,
            source=None,
            change_digest=change_digest(details),
            id=seq,
            details=details,
            hash="",
        )
        entry = dataclasses.replace(draft, hash=entry_hash(draft))
        entries.append(entry)
        prev = entry.hash
    return entries


def checkpoint(entries: list[ChainEntry], size: int, interval: int = 0) -> CheckpointOut:
    draft = CheckpointOut(
        id=size,
        tree_size=size,
        head_hash=entries[size - 1].hash,
        signed_at=T0,
        key_id=SIGNER.key_id,
        interval=interval,
        signature="",
    )
    return draft.model_copy(update={"signature": SIGNER.sign(payload(draft))})


def check(entries: list[ChainEntry], *checkpoints: CheckpointOut, **kwargs: object) -> VerifyReport:
    return run(Verifier(KEYS, checkpoints, **kwargs), entries, None)  # type: ignore[arg-type]


def verdict(report: VerifyReport) -> tuple[ProblemKind, int | None]:
    assert report.problem is not None
    return report.problem.kind, report.problem.seq


def test_an_intact_chain_and_an_empty_one() -> None:
    entries = chain(30)
    report = check(entries, checkpoint(entries, 10), checkpoint(entries, 30))
    assert (report.ok, report.entries, report.checkpoints, report.last_hash) == (True, 30, 2, entries[-1].hash)
    assert check([]).ok
    assert verdict(check([], head=Head(seq=3, hash="x", checkpoint_seq=0))) == (ProblemKind.TRUNCATED, 1)


def test_a_repeated_seq_is_a_duplicate() -> None:
    entries = chain(5)
    assert verdict(check([*entries[:3], entries[2], *entries[3:]])) == (ProblemKind.DUPLICATE, 3)


def test_an_entry_far_out_of_place_is_reordered() -> None:
    entries = chain(6)
    assert verdict(check([*entries[:4], entries[1], entries[4], entries[5]])) == (ProblemKind.REORDERED, 2)


def test_a_gap_longer_than_the_lookahead_is_a_gap() -> None:
    entries = chain(LOOKAHEAD + 10)
    moved = [*entries[:4], *entries[5:], entries[4]]
    assert verdict(check(moved)) == (ProblemKind.GAP, 5)
    assert verdict(check(moved[: LOOKAHEAD - 5])) == (ProblemKind.GAP, 5)


def test_a_replaced_entry_breaks_the_next_link() -> None:
    entries = chain(5)
    forged = dataclasses.replace(entries[2], actor="mallory")
    forged = dataclasses.replace(forged, hash=entry_hash(forged))
    assert verdict(check([*entries[:2], forged, *entries[3:]])) == (ProblemKind.BROKEN_LINK, 4)


def test_the_earliest_problem_wins_over_a_forged_later_checkpoint() -> None:
    entries = chain(20)
    forged = checkpoint(entries, 15).model_copy(update={"head_hash": "0" * 64})
    edited = [*entries[:4], dataclasses.replace(entries[4], actor="x"), *entries[5:]]
    assert verdict(check(edited, forged)) == (ProblemKind.HASH_MISMATCH, 5)
    assert verdict(check(entries, forged)) == (ProblemKind.BAD_SIGNATURE, 15)


@pytest.mark.parametrize(
    ("expected", "signed", "ok"),
    [(0, 5, False), (6, 5, False), (7, 5, True), (0, 0, True), (0, 7, True)],
)
def test_unsigned_entries_must_stay_below_the_larger_interval(expected: int, signed: int, ok: bool) -> None:
    """The verifier's interval and the newest checkpoint's own: the larger one applies."""
    entries = chain(16)
    report = check(entries, checkpoint(entries, 10, interval=signed), interval=expected)
    assert report.unsigned_entries == 6
    assert report.ok is ok
    if not ok:
        assert verdict(report) == (ProblemKind.MISSING_CHECKPOINT, 11)


def test_a_walk_that_does_not_reach_the_head_skips_coverage() -> None:
    entries = chain(16)
    assert check(entries, checkpoint(entries, 10, interval=5), coverage=False).ok
