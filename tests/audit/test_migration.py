"""Migration 0003 chains the events an earlier release recorded, in id order."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from shipyard.audit import service as audit
from shipyard.audit.checkpoints import Notary
from shipyard.settings import Settings
from shipyard.store import schema
from shipyard.store.base import TZDateTime
from shipyard.store.engine import Database

from .conftest import rows

OLD_EVENTS = sa.table(
    "events",
    sa.column("project_id", sa.String()),
    sa.column("at", TZDateTime()),
    sa.column("actor", sa.String()),
    sa.column("action", sa.String()),
    sa.column("object_type", sa.String()),
    sa.column("object_id", sa.String()),
    sa.column("request_id", sa.String()),
    sa.column("details", sa.JSON().with_variant(postgresql.JSONB(), "postgresql")),
)


@pytest.fixture
def old_database(tmp_path: Path, database_url: str) -> Iterator[Database]:
    """A database as the previous release left it (schema 0002)."""
    url = f"sqlite:///{tmp_path / 'old.db'}" if database_url.startswith("sqlite") else database_url
    db = Database(url)
    if not database_url.startswith("sqlite"):
        schema.downgrade(db, "base")
    schema.upgrade(db, "0002")
    try:
        yield db
    finally:
        schema.upgrade(db)
        db.dispose()


def test_existing_events_are_chained_in_id_order(old_database: Database, settings: Settings) -> None:
    t0 = datetime(2026, 11, 30, 12, 0, 0, 654321, tzinfo=UTC)
    with old_database.engine.begin() as conn:
        project = conn.execute(sa.text("SELECT id FROM projects WHERE name = 'default'")).scalar_one()
        conn.execute(
            OLD_EVENTS.insert(),
            [
                {
                    "project_id": project if i % 2 else None,
                    "at": t0 - timedelta(minutes=i),  # times need not follow ids
                    "actor": "old-release",
                    "action": "run.update",
                    "object_type": "run",
                    "object_id": f"r{i}",
                    "request_id": None,
                    "details": {"status": {"from": "RUNNING", "to": "FINISHED"}, "loss": 0.25 * i, "n": i},
                }
                for i in range(7)
            ],
        )
    schema.upgrade(old_database)
    chained = rows(old_database, "SELECT id, seq, source FROM events ORDER BY id")
    assert [seq for _, seq, _ in chained] == list(range(1, 8))
    assert {source for _, _, source in chained} == {None}
    assert rows(old_database, "SELECT seq, checkpoint_seq FROM audit_head") == [(7, 0)]
    notary = Notary.from_settings(settings)
    with old_database.session(readonly=True) as session:
        report = audit.verify(session, notary)
    assert (report.ok, report.entries) == (True, 7)
