"""The audit log's operations over the database: list entries, read the head, issue and
list checkpoints, verify the whole chain. Nothing here changes an entry: appending is
:mod:`shipyard.audit.append`'s job, at commit time."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from shipyard.audit import append, checkpoints
from shipyard.audit.chain import ChainEntry
from shipyard.audit.checkpoints import Notary
from shipyard.audit.head import read_head
from shipyard.audit.keys import KeyRing
from shipyard.audit.schemas import (
    AuditEntryOut,
    CheckpointIssued,
    CheckpointOut,
    HeadOut,
    PublicKeyOut,
    PublicKeys,
    VerifyReport,
)
from shipyard.audit.tables import AuditCheckpoint
from shipyard.audit.verify import Progress, Verifier, run
from shipyard.errors import InvalidArgument
from shipyard.events.tables import Event
from shipyard.projects.tables import Project
from shipyard.settings import Settings
from shipyard.store.engine import Database
from shipyard.store.pagination import Page, paginate

VERIFY_PAGE = 2000


def attach(db: Database, settings: Settings) -> Notary:
    """Load (or create) the signing key and let ``db``'s write sessions sign checkpoints
    as they commit. Called once when an app is built."""
    notary = Notary.from_settings(settings)
    db.sessions.configure(info=append.session_info(notary))
    return notary


# -- entries -------------------------------------------------------------------------------
@dataclass(frozen=True)
class EntryFilter:
    project_id: str | None = None
    actor: str | None = None
    action: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    from_seq: int | None = None
    to_seq: int | None = None
    newest_first: bool = False

    def check(self) -> None:
        for name, value in (("since", self.since), ("until", self.until)):
            if value is not None and value.tzinfo is None:
                raise InvalidArgument(f"{name} needs a time zone, e.g. 2026-12-04T10:00:00Z", {"field": name})
        if self.since and self.until and self.since > self.until:
            raise InvalidArgument("since is after until", {"field": "since"})
        if self.from_seq and self.to_seq and self.from_seq > self.to_seq:
            raise InvalidArgument("from_seq is after to_seq", {"field": "from_seq"})

    def apply(self, stmt: Select[tuple[Event]]) -> Select[tuple[Event]]:
        equal = {
            Event.project_id: self.project_id,
            Event.actor: self.actor,
            Event.action: self.action,
            Event.object_type: self.object_type,
            Event.object_id: self.object_id,
        }
        for column, value in equal.items():
            if value is not None:
                stmt = stmt.where(column == value)
        if self.since is not None:
            stmt = stmt.where(Event.at >= self.since)
        if self.until is not None:
            stmt = stmt.where(Event.at <= self.until)
        if self.from_seq is not None:
            stmt = stmt.where(Event.seq >= self.from_seq)
        if self.to_seq is not None:
            stmt = stmt.where(Event.seq <= self.to_seq)
        return stmt


def list_entries(
    session: Session, where: EntryFilter, *, page_token: str | None, page_size: int
) -> Page[AuditEntryOut]:
    where.check()
    page: Page[Event] = paginate(
        session,
        where.apply(select(Event)),
        [Event.seq],
        scope=f"audit:{where!r}",
        page_token=page_token,
        page_size=page_size,
        key_of=lambda e: [e.seq],
        descending=where.newest_first,
    )
    ids = {e.project_id for e in page.items if e.project_id}
    names: dict[str, str] = dict(session.execute(select(Project.id, Project.name).where(Project.id.in_(ids))).all())
    entries = [
        AuditEntryOut.model_validate(e).model_copy(update={"project": names.get(e.project_id or "")})
        for e in page.items
    ]
    return Page(items=entries, next_page_token=page.next_page_token)


def iter_chain(session: Session, *, page_size: int = VERIFY_PAGE) -> Iterator[ChainEntry]:
    """Every entry in chain order, read in keyset pages (constant memory). Rows sharing a
    seq (only possible if the unique constraint was dropped) all come out, by id."""
    columns = [getattr(Event, f.name) for f in dataclasses.fields(ChainEntry)]
    after: tuple[int, int] | None = None
    while True:
        stmt = select(*columns).order_by(Event.seq, Event.id).limit(page_size)
        if after is not None:
            stmt = stmt.where(or_(Event.seq > after[0], and_(Event.seq == after[0], Event.id > after[1])))
        rows = session.execute(stmt).all()
        for row in rows:
            yield ChainEntry(**row._mapping)
        if len(rows) < page_size:
            return
        after = (rows[-1].seq, rows[-1].id)


# -- head, keys, checkpoints ---------------------------------------------------------------
def head(session: Session, notary: Notary) -> HeadOut:
    current = read_head(session)
    return HeadOut(
        seq=current.seq, hash=current.hash, checkpoint_seq=current.checkpoint_seq, checkpoint_interval=notary.interval
    )


def public_keys(notary: Notary) -> PublicKeys:
    signing = notary.signer.key_id
    keys = [
        PublicKeyOut(key_id=kid, public_key_pem=pem, signing=kid == signing)
        for kid, pem in notary.keyring.pems().items()
    ]
    return PublicKeys(keys=keys, checkpoint_interval=notary.interval)


def issue_checkpoint(session: Session, notary: Notary) -> CheckpointIssued:
    checkpoint, created = checkpoints.issue(session, notary)
    return CheckpointIssued(**CheckpointOut.model_validate(checkpoint).model_dump(), created=created)


def list_checkpoints(session: Session, *, page_token: str | None, page_size: int) -> Page[CheckpointOut]:
    page: Page[AuditCheckpoint] = paginate(
        session,
        select(AuditCheckpoint),
        [AuditCheckpoint.id],
        scope="audit-checkpoints",
        page_token=page_token,
        page_size=page_size,
        key_of=lambda c: [c.id],
    )
    return Page(items=[CheckpointOut.model_validate(c) for c in page.items], next_page_token=page.next_page_token)


# -- verification ----------------------------------------------------------------------------
def verify(
    session: Session, notary: Notary, *, keyring: KeyRing | None = None, progress: Progress | None = None
) -> VerifyReport:
    """Verify the whole chain as stored, in one consistent snapshot (a read-only
    transaction: REPEATABLE READ on PostgreSQL, a WAL snapshot on SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    current = read_head(session)
    verifier = Verifier(keyring or notary.keyring, iter_checkpoints(session), interval=notary.interval, head=current)
    return run(verifier, iter_chain(session), progress)


def iter_checkpoints(session: Session, *, page_size: int = VERIFY_PAGE) -> Iterator[CheckpointOut]:
    """Every checkpoint, oldest first, read in keyset pages."""
    columns = [getattr(AuditCheckpoint, name) for name in CheckpointOut.model_fields]
    last = 0
    while True:
        rows = session.execute(
            select(*columns).where(AuditCheckpoint.id > last).order_by(AuditCheckpoint.id).limit(page_size)
        ).all()
        for row in rows:
            yield CheckpointOut.model_construct(**row._mapping)
        if len(rows) < page_size:
            return
        last = rows[-1].id
