"""The chain head: read it under a lock, write it back.

PostgreSQL: ``SELECT … FOR UPDATE`` on the one ``audit_head`` row, so appenders queue for
it and each sees the head its predecessor committed. SQLite: write transactions start
with ``BEGIN IMMEDIATE`` (:mod:`shipyard.store.engine`), so only one writer runs at a
time and a plain read suffices. The lock is taken at commit time, as the last thing a
unit of work does, and held until its COMMIT.

A missing row (a database emptied by hand) is rebuilt from the newest entry and
checkpoint, so the chain continues instead of restarting at 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.orm import Session

from shipyard.audit.chain import GENESIS
from shipyard.audit.tables import HEAD_ID, AuditCheckpoint, AuditHead
from shipyard.events.tables import Event
from shipyard.store.upsert import insert_ignore


@dataclass
class Head:
    seq: int
    hash: str
    checkpoint_seq: int


_HEAD = cast(Table, AuditHead.__table__)
_COLUMNS = (_HEAD.c.seq, _HEAD.c.hash, _HEAD.c.checkpoint_seq)
_READ = select(*_COLUMNS).where(_HEAD.c.id == HEAD_ID)
# Plain Core statements built once and run on the session's connection: the appender
# runs inside every event-producing commit, so its two round trips skip the ORM's
# statement machinery and autoflush (the commit's own flush writes the events).
_LOCK = _READ.with_for_update()
_SAVE = (
    update(_HEAD)
    .where(_HEAD.c.id == HEAD_ID)
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"), checkpoint_seq=bindparam("new_checkpoint_seq"))
)


def lock_head(session: Session) -> Head:
    conn = session.connection()
    row = conn.execute(_LOCK).one_or_none()
    if row is None:
        _rebuild(session)
        row = conn.execute(_LOCK).one()
    return Head(seq=row.seq, hash=row.hash, checkpoint_seq=row.checkpoint_seq)


def save_head(session: Session, head: Head) -> None:
    session.connection().execute(
        _SAVE, {"new_seq": head.seq, "new_hash": head.hash, "new_checkpoint_seq": head.checkpoint_seq}
    )


def read_head(session: Session) -> Head:
    """The head without a lock (for readers); derived from the entries if the row is gone."""
    row = session.execute(_READ).one_or_none()
    if row is None:
        return _derived(session)
    return Head(seq=row.seq, hash=row.hash, checkpoint_seq=row.checkpoint_seq)


def _derived(session: Session) -> Head:
    last = session.execute(select(Event.seq, Event.hash).order_by(Event.seq.desc()).limit(1)).one_or_none()
    checkpoint = session.scalar(select(func.max(AuditCheckpoint.tree_size))) or 0
    if last is None:
        return Head(seq=0, hash=GENESIS, checkpoint_seq=checkpoint)
    return Head(seq=last.seq, hash=last.hash, checkpoint_seq=checkpoint)


def _rebuild(session: Session) -> None:
    head = _derived(session)
    row = {"id": HEAD_ID, "seq": head.seq, "hash": head.hash, "checkpoint_seq": head.checkpoint_seq}
    # Two first appenders may race here; the loser's insert is a no-op and it then
    # waits for the winner's row lock like any other appender.
    insert_ignore(session, _HEAD, [row], key=["id"])
