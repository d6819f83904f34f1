"""Appending to the chain, at commit time.

:func:`stage` holds a new :class:`~shipyard.events.tables.Event` on its session instead
of adding it; when the unit of work commits, :func:`_chain` (a ``before_commit`` listener
on that session only) locks the head, gives each staged event the next ``seq``, its
``change_digest``, ``prev_hash`` and ``hash``, adds them, moves the head, and signs a
checkpoint when one is due. The head lock is therefore held only from the end of the
unit of work to its COMMIT, and two units of work can never fork the chain. Sessions that
record nothing (read-only ones, metric-only batches) carry no listener and pay nothing.

Rolling back discards what was staged, savepoints included: an event staged inside a
savepoint that rolls back is dropped with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from shipyard.audit.chain import change_digest, entry_hash
from shipyard.audit.checkpoints import Notary
from shipyard.audit.head import lock_head, save_head
from shipyard.events.tables import Event

STAGED = "shipyard.audit.staged"
NOTARY = "shipyard.audit.notary"


@dataclass(frozen=True)
class _Staged:
    event: Event
    owner: SessionTransaction | None  # the savepoint it was staged in (None: the outer transaction)


def stage(session: Session, entry: Event) -> None:
    """Append ``entry`` to the chain when ``session`` commits (not before)."""
    if not session.in_transaction():
        session.begin()  # so that a rollback before any SQL still ends it (and discards this)
    staged: list[_Staged] | None = session.info.get(STAGED)
    if staged is None:
        staged = session.info[STAGED] = []
        if not event.contains(session, "before_commit", _chain):
            event.listen(session, "before_commit", _chain)
            event.listen(session, "after_soft_rollback", _discard)
            event.listen(session, "after_transaction_end", _forget)
    staged.append(_Staged(entry, session.get_nested_transaction()))


def _chain(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint is being released; chain at the outer commit
    staged: list[_Staged] | None = session.info.pop(STAGED, None)
    if not staged:
        return
    head = lock_head(session)
    for item in staged:
        entry = item.event
        entry.seq = head.seq + 1
        entry.prev_hash = head.hash
        entry.change_digest = change_digest(entry.details)
        entry.hash = entry_hash(entry)
        head.seq, head.hash = entry.seq, entry.hash
    session.add_all(item.event for item in staged)
    notary: Notary | None = session.info.get(NOTARY)
    if notary is not None and notary.due(head):
        notary.sign(session, head)
    save_head(session, head)


def _discard(session: Session, previous_transaction: SessionTransaction) -> None:
    """A savepoint rolled back: drop what was staged inside it."""
    staged: list[_Staged] | None = session.info.get(STAGED)
    if staged and previous_transaction.nested:
        staged[:] = [s for s in staged if not _inside(s.owner, previous_transaction)]


def _forget(session: Session, transaction: SessionTransaction) -> None:
    """The outer transaction ended (committed, rolled back or closed): nothing stays staged."""
    if transaction.parent is None and not transaction.nested:
        session.info.pop(STAGED, None)


def _inside(owner: SessionTransaction | None, savepoint: SessionTransaction) -> bool:
    node = owner
    while node is not None:
        if node is savepoint:
            return True
        node = node.parent
    return False


def session_info(notary: Notary) -> dict[str, Any]:
    """What a session factory passes to every session so commits can sign checkpoints."""
    return {NOTARY: notary}
