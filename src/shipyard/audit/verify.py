"""Verification: walk the chain once, in seq order, in constant memory.

:class:`Verifier` is fed entries one at a time from any source (the database, the REST
API, an export file) and reports the first broken one. For each entry it checks, in order:

1. ``seq`` is the next one (else ``gap``, ``duplicate`` or ``reordered``);
2. ``prev_hash`` is the previous entry's ``hash`` (else ``broken_link``, or ``reordered``
   when the missing predecessor turns up a little later in the walk);
3. ``change_digest`` is the digest of ``details`` and ``hash`` the hash of the entry
   (else ``hash_mismatch``);
4. row ids grow with ``seq`` (else ``reordered``: rows swapped wholesale);
5. every checkpoint signed for this tree size names this entry's hash (else
   ``checkpoint_mismatch``: the chain was rewritten up to here and rehashed).

Before the walk every checkpoint's signature is checked (``bad_signature``, which also
covers a key the verifier does not trust). After it: a valid checkpoint beyond the end
means entries were cut off (``truncated``); so does a head row beyond the end; and more
unsigned entries after the newest checkpoint than the checkpoint interval allows means
checkpoints were removed (``missing_checkpoint``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from shipyard.audit.chain import GENESIS, Entry, change_digest, entry_hash
from shipyard.audit.checkpoints import Signed, payload
from shipyard.audit.head import Head
from shipyard.audit.keys import KeyRing
from shipyard.audit.schemas import Problem, ProblemKind, VerifyReport

Progress = Callable[[int], None]

# How far past a broken link to look for the entry it should have followed.
LOOKAHEAD = 1000


class Checkpoint(Signed, Protocol):
    @property
    def id(self) -> int | None: ...


@dataclass
class _Pending:
    """A problem that may turn out to be reordering: the walk looks ahead a little for
    the entry that belongs here (by seq after a gap, by hash after a broken link)."""

    problem: Problem  # what it is if that entry does not turn up
    entry: Entry  # where the walk noticed
    seq: int | None = None
    hash: str | None = None
    budget: int = LOOKAHEAD

    def wants(self, entry: Entry) -> bool:
        return entry.seq == self.seq if self.seq is not None else entry.hash == self.hash


@dataclass(frozen=True, slots=True)
class _Valid:
    """What the walk keeps of a checkpoint whose signature verified."""

    id: int | None
    tree_size: int
    head_hash: str
    interval: int


def _where(entry: Entry) -> str:
    return f"entry seq {entry.seq}" + (f" (event id {entry.id})" if entry.id is not None else "")


class Verifier:
    """Feed :meth:`add` every entry in seq order until it returns False, then :meth:`report`.

    ``first_seq``/``anchor``: where the walk starts and the hash the first entry must
    link to (an export may start after seq 1). ``interval``: the checkpoint interval the
    verifier expects (the larger of it and the newest checkpoint's own applies).
    ``head``: the chain head to compare the end of the walk with, if known.
    ``coverage``: whether the walk ends at the head, so that unsigned entries at its end
    must be fewer than the interval (not so for an export that stops earlier).
    """

    def __init__(
        self,
        keyring: KeyRing,
        checkpoints: Iterable[Checkpoint],
        *,
        first_seq: int = 1,
        anchor: str = GENESIS,
        interval: int = 0,
        head: Head | None = None,
        coverage: bool = True,
    ) -> None:
        self.first_seq = first_seq
        self.interval = interval
        self.coverage = coverage
        self.head = head
        self.notes: list[str] = []
        self._expected = first_seq
        self._last_hash = anchor
        self._last_id: int | None = None
        self._count = 0
        self._checked = 0
        self._problem: Problem | None = None
        self._pending: _Pending | None = None
        self._valid: dict[int, list[_Valid]] = {}  # by tree size; compact: 1M entries hold 10k
        self._signature_problem: Problem | None = None
        self._cut_short = False
        for cp in checkpoints:
            if keyring.verify(cp.key_id, payload(cp), cp.signature):
                self._valid.setdefault(cp.tree_size, []).append(_Valid(cp.id, cp.tree_size, cp.head_hash, cp.interval))
                continue
            known = cp.key_id in keyring.keys
            reason = "its signature does not verify" if known else f"it is signed by untrusted key {cp.key_id}"
            problem = Problem(
                kind=ProblemKind.BAD_SIGNATURE,
                seq=cp.tree_size,
                checkpoint_id=cp.id,
                message=f"checkpoint{_cp_name(cp.id)} for tree size {cp.tree_size} is forged or altered: {reason}",
            )
            if self._signature_problem is None or cp.tree_size < (self._signature_problem.seq or 0):
                self._signature_problem = problem

    # -- the walk --------------------------------------------------------------------
    def add(self, entry: Entry) -> bool:
        """Check one entry; False means stop (a problem is settled)."""
        if self._pending is not None:
            return self._look_ahead(entry)
        if self._problem is not None:
            return False
        if self._signature_problem is not None and entry.seq > (self._signature_problem.seq or 0):
            self._cut_short = True  # the answer is settled; the rest of the walk is moot
            return False
        if entry.seq > self._expected:  # deleted, or further down the walk?
            self._pending = _Pending(self._gap(entry), entry, seq=self._expected)
            return True
        if entry.seq == self._expected and entry.prev_hash != self._last_hash:  # reordered, changed or removed?
            self._pending = _Pending(self._broken_link(entry), entry, hash=entry.prev_hash)
            return True
        problem = self._check(entry) or self._check_checkpoints(entry)
        if problem is not None:
            self._problem = problem
            return False
        self._expected = entry.seq + 1
        self._last_hash = entry.hash
        self._last_id = entry.id
        self._count += 1
        return True

    def _check(self, entry: Entry) -> Problem | None:
        if entry.seq != self._expected:
            return self._out_of_sequence(entry)
        if change_digest(entry.details) != entry.change_digest:
            return self._mismatch(entry, "its details no longer match its change_digest")
        if entry_hash(entry) != entry.hash:
            return self._mismatch(entry, "its fields no longer match its hash")
        if entry.id is not None and self._last_id is not None and entry.id <= self._last_id:
            return Problem(
                kind=ProblemKind.REORDERED,
                seq=entry.seq,
                event_id=entry.id,
                message=f"{_where(entry)} is stored before seq {entry.seq - 1} (event id {self._last_id}): "
                "rows were swapped",
            )
        return None

    def _check_checkpoints(self, entry: Entry) -> Problem | None:
        for cp in self._valid.get(entry.seq, ()):
            if cp.head_hash != entry.hash:
                return Problem(
                    kind=ProblemKind.CHECKPOINT_MISMATCH,
                    seq=entry.seq,
                    event_id=entry.id,
                    checkpoint_id=cp.id,
                    message=f"checkpoint{_cp_name(cp.id)} signed hash {cp.head_hash[:12]}… for tree size {entry.seq}, "
                    f"but {_where(entry)} has {entry.hash[:12]}…: the chain was rewritten at or before seq "
                    f"{entry.seq} and rehashed",
                )
            self._checked += 1
        return None

    def _gap(self, entry: Entry) -> Problem:
        missing = f"seq {self._expected}" + (f" to {entry.seq - 1}" if entry.seq > self._expected + 1 else "")
        return Problem(
            kind=ProblemKind.GAP,
            seq=self._expected,
            message=f"{missing} missing: the next entry is {_where(entry)}; entries were deleted",
        )

    def _broken_link(self, entry: Entry) -> Problem:
        before = f"seq {entry.seq - 1}" if entry.seq > self.first_seq else "the start of the walk"
        return Problem(
            kind=ProblemKind.BROKEN_LINK,
            seq=entry.seq,
            event_id=entry.id,
            message=f"{_where(entry)} does not link to {before}: an entry before it was changed or removed",
        )

    def _out_of_sequence(self, entry: Entry) -> Problem:
        if entry.seq == self._expected - 1:
            return Problem(
                kind=ProblemKind.DUPLICATE,
                seq=entry.seq,
                event_id=entry.id,
                message=f"{_where(entry)} repeats seq {entry.seq}",
            )
        return Problem(
            kind=ProblemKind.REORDERED,
            seq=entry.seq,
            event_id=entry.id,
            message=f"{_where(entry)} comes after seq {self._expected - 1}: entries are out of order",
        )

    def _mismatch(self, entry: Entry, why: str) -> Problem:
        return Problem(
            kind=ProblemKind.HASH_MISMATCH,
            seq=entry.seq,
            event_id=entry.id,
            message=f"{_where(entry)} was changed: {why}",
        )

    def _look_ahead(self, entry: Entry) -> bool:
        pending = self._pending
        assert pending is not None
        if pending.wants(entry):
            if pending.seq is not None:
                seq, event_id = pending.seq, entry.id
                message = f"{_where(entry)} comes after {_where(pending.entry)}: entries were reordered"
            else:
                seq, event_id = pending.entry.seq, pending.entry.id
                message = (
                    f"{_where(pending.entry)} links to {_where(entry)}, which comes after it: entries were reordered"
                )
            self._problem = Problem(kind=ProblemKind.REORDERED, seq=seq, event_id=event_id, message=message)
            self._pending = None
            return False
        pending.budget -= 1
        if pending.budget <= 0:
            self._settle()
            return False
        return True

    def _settle(self) -> None:
        """Nothing turned up: the pending problem is what it looked like."""
        assert self._pending is not None
        self._problem, self._pending = self._pending.problem, None

    # -- the end ---------------------------------------------------------------------
    def report(self) -> VerifyReport:
        if self._pending is not None:
            self._settle()
        last_seq = self._expected - 1
        latest = max((size for size in self._valid if size <= last_seq), default=None)
        problem = self._problem
        forged = self._signature_problem
        if problem is None and not self._cut_short:
            problem = self._end_problem(last_seq, latest)
        if forged is not None and (
            problem is None
            or problem.kind is ProblemKind.MISSING_CHECKPOINT  # a forged checkpoint explains a missing one
            or (problem.seq or 0) >= (forged.seq or 0)
        ):
            problem = forged
        covered = max(latest or 0, self.first_seq - 1)
        return VerifyReport(
            ok=problem is None,
            entries=self._count,
            first_seq=self.first_seq if self._count else None,
            last_seq=last_seq if self._count else None,
            last_hash=self._last_hash if self._count else None,
            checkpoints=self._checked,
            latest_checkpoint=latest,
            unsigned_entries=max(last_seq - covered, 0),
            problem=problem,
            notes=self.notes,
        )

    def _end_problem(self, last_seq: int, latest: int | None) -> Problem | None:
        beyond = sorted(size for size in self._valid if size > last_seq)
        if beyond:
            cp = self._valid[beyond[0]][0]
            return Problem(
                kind=ProblemKind.TRUNCATED,
                seq=last_seq + 1,
                checkpoint_id=cp.id,
                message=f"truncated below checkpoint{_cp_name(cp.id)}: it signs tree size {cp.tree_size} but the chain "
                f"ends at seq {last_seq}; entries {last_seq + 1} to {cp.tree_size} were deleted",
            )
        head = self.head
        if head is not None and head.seq > last_seq:
            return Problem(
                kind=ProblemKind.TRUNCATED,
                seq=last_seq + 1,
                message=f"truncated: the chain head is at seq {head.seq} but the entries end at seq {last_seq}",
            )
        if head is not None and (head.seq < last_seq or (head.seq == last_seq and head.hash != self._last_hash)):
            return Problem(
                kind=ProblemKind.HEAD_MISMATCH,
                seq=head.seq + 1 if head.seq < last_seq else last_seq,
                message=f"the chain head (seq {head.seq}, {head.hash[:12]}…) does not match the last entry "
                f"(seq {last_seq}): entries were appended or replaced behind the appender's back",
            )
        return self._coverage_problem(last_seq, latest)

    def _coverage_problem(self, last_seq: int, latest: int | None) -> Problem | None:
        own = max((cp.interval for cp in self._valid.get(latest, ())), default=0) if latest is not None else 0
        interval = max(own, self.interval)
        covered = max(latest or 0, self.first_seq - 1)
        if not self.coverage or interval <= 0 or last_seq - covered < interval:
            return None
        return Problem(
            kind=ProblemKind.MISSING_CHECKPOINT,
            seq=covered + 1,
            message=f"entries {covered + 1} to {last_seq} are covered by no checkpoint although one is signed at "
            f"least every {interval} entries: checkpoints were deleted, or entries were appended without the "
            "signing key",
        )


def _cp_name(checkpoint_id: int | None) -> str:
    return f" #{checkpoint_id}" if checkpoint_id is not None else ""


def run(verifier: Verifier, entries: Iterable[Entry], progress: Progress | None) -> VerifyReport:
    """Feed ``entries`` to ``verifier`` until it has its answer; ``progress`` is told
    about every 1000 entries."""
    done = 0
    for entry in entries:
        done += 1
        if progress is not None and done % 1000 == 0:
            progress(1000)
        if not verifier.add(entry):
            break
    if progress is not None:
        progress(done % 1000)
    return verifier.report()
