"""Fixtures for the audit log: a migrated, attached database; a populated chain; helpers
to tamper with rows behind the appender's back and to verify."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from shipyard.audit import service as audit
from shipyard.audit.chain import GENESIS, EntryFields, change_digest, entry_hash
from shipyard.audit.checkpoints import Notary
from shipyard.audit.head import Head, lock_head, save_head
from shipyard.audit.schemas import VerifyReport
from shipyard.events import service as events
from shipyard.events.context import Actor
from shipyard.events.tables import Event
from shipyard.projects import service as projects
from shipyard.projects.schemas import ProjectCreate
from shipyard.projects.tables import DEFAULT_PROJECT
from shipyard.settings import Settings, load_settings
from shipyard.store.engine import Database
from shipyard.store.schema import prepare

ANA = Actor("ana", request_id="req-1", source="10.0.0.7")


@pytest.fixture
def settings(home: Path, database_url: str) -> Settings:
    """The shared settings with a small checkpoint interval, so tests see several."""
    return load_settings(
        {
            "home": str(home),
            "database.url": database_url,
            "logging.level": "WARNING",
            "audit.checkpoint_interval": 10,
        }
    ).settings


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.database_url, settings.database)
    prepare(database, auto_upgrade=False)
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def notary(db: Database, settings: Settings) -> Notary:
    """``db`` attached as an app attaches it: commits sign checkpoints every 10 entries."""
    return audit.attach(db, settings)


def record(db: Database, n: int, *, actor: Actor = ANA, **details: Any) -> None:
    """``n`` events, each in its own unit of work, through the service layer."""
    for i in range(n):
        with db.session() as session:
            project = projects.get_by_name(session, DEFAULT_PROJECT)
            events.record(
                session,
                actor,
                "test.change",
                project_id=project.id,
                object_type="thing",
                object_id=str(i),
                details={"i": i, **details},
            )


def make_project(db: Database, name: str) -> None:
    with db.session() as session:
        projects.create(session, ProjectCreate(name=name))


def verify(db: Database, notary: Notary) -> VerifyReport:
    with db.session(readonly=True) as session:
        return audit.verify(session, notary)


def sql(db: Database, statement: str, **params: Any) -> None:
    """Tamper: run SQL straight on the database, as someone with write access could."""
    with db.engine.begin() as conn:
        conn.execute(text(statement), params)


def rows(db: Database, statement: str, **params: Any) -> list[Any]:
    with db.engine.connect() as conn:
        return list(conn.execute(text(statement), params))


def rehash(db: Database, from_seq: int) -> None:
    """What a careful attacker does after an edit: recompute every digest and hash from
    ``from_seq`` on, and move the head, so the chain is internally consistent again."""
    with db.session() as session:
        prev = GENESIS if from_seq == 1 else session.scalar(select(Event.hash).where(Event.seq == from_seq - 1))
        assert prev is not None
        for event in session.scalars(select(Event).where(Event.seq >= from_seq).order_by(Event.seq)):
            event.change_digest = change_digest(event.details)
            event.prev_hash = prev
            fields = {k: getattr(event, k) for k in EntryFields.__dataclass_fields__}
            event.hash = prev = entry_hash(EntryFields(**fields))
        head = lock_head(session)
        last = session.execute(select(Event.seq, Event.hash).order_by(Event.seq.desc()).limit(1)).one()
        save_head(session, Head(seq=last.seq, hash=last.hash, checkpoint_seq=head.checkpoint_seq))
