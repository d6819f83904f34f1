"""Alembic migrations for every Shipyard table, and the schema check run before start.

A database is one of: empty (fresh, safe to create), current, out of date (older than
this code: ``shipyard db upgrade`` fixes it), or too new (migrated by a newer Shipyard:
this code must not touch it).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from shipyard.errors import SchemaOutOfDate, SchemaTooNew
from shipyard.store.engine import Database, translate_db_errors

HERE = Path(__file__).parent / "migrations"


class SchemaStatus(enum.StrEnum):
    EMPTY = "empty"
    CURRENT = "current"
    OUT_OF_DATE = "out_of_date"
    TOO_NEW = "too_new"
    UNVERSIONED = "unversioned"  # tables, but no recorded revision: not a database Shipyard made


@dataclass(frozen=True)
class SchemaState:
    status: SchemaStatus
    current: str | None
    head: str

    def require_current(self) -> None:
        if self.status is SchemaStatus.OUT_OF_DATE:
            raise SchemaOutOfDate(
                f"the database schema is at revision {self.current}, older than this Shipyard "
                f"({self.head}); run `shipyard db upgrade`",
                {"current": self.current, "head": self.head, "fix": "shipyard db upgrade"},
            )
        if self.status is SchemaStatus.TOO_NEW:
            raise SchemaTooNew(
                f"the database schema is at revision {self.current}, which this Shipyard does not "
                f"know (its newest is {self.head}); upgrade Shipyard instead of downgrading the database",
                {"current": self.current, "head": self.head},
            )
        if self.status is SchemaStatus.UNVERSIONED:
            raise SchemaOutOfDate(
                "the database has tables but no Shipyard schema revision, so Shipyard did not create it; "
                "point database.url at an empty database or at one Shipyard created",
                {"current": None, "head": self.head},
            )
        if self.status is SchemaStatus.EMPTY:
            raise SchemaOutOfDate(
                "the database has no Shipyard tables; run `shipyard db upgrade`",
                {"current": None, "head": self.head, "fix": "shipyard db upgrade"},
            )


def alembic_config(db: Database) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["database"] = db
    return cfg


def head_revision() -> str:
    head = ScriptDirectory(str(HERE)).get_current_head()
    assert head is not None, "no migrations shipped"
    return head


def schema_state(db: Database) -> SchemaState:
    script = ScriptDirectory(str(HERE))
    head = head_revision()
    with translate_db_errors(), db.engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
        has_tables = bool(set(inspect(conn).get_table_names()) - {"alembic_version"})
    if current is None:
        status = SchemaStatus.UNVERSIONED if has_tables else SchemaStatus.EMPTY
    elif current == head:
        status = SchemaStatus.CURRENT
    else:
        try:
            known = script.get_revision(current) is not None
        except Exception:
            known = False
        status = SchemaStatus.OUT_OF_DATE if known else SchemaStatus.TOO_NEW
    return SchemaState(status=status, current=current, head=head)


def upgrade(db: Database, revision: str = "head") -> SchemaState:
    state = schema_state(db)
    if state.status in (SchemaStatus.TOO_NEW, SchemaStatus.UNVERSIONED):
        state.require_current()
    with translate_db_errors():
        command.upgrade(alembic_config(db), revision)
    return schema_state(db)


def downgrade(db: Database, revision: str) -> SchemaState:
    command.downgrade(alembic_config(db), revision)
    return schema_state(db)


def prepare(db: Database, auto_upgrade: bool) -> SchemaState:
    """What a server or local client runs before serving: create a fresh database,
    refuse an out-of-date one (unless told to migrate it) and always refuse a newer one."""
    state = schema_state(db)
    if state.status is SchemaStatus.EMPTY or (state.status is SchemaStatus.OUT_OF_DATE and auto_upgrade):
        return upgrade(db)
    state.require_current()
    return state


__all__ = [
    "SchemaState",
    "SchemaStatus",
    "downgrade",
    "head_revision",
    "prepare",
    "schema_state",
    "upgrade",
]
