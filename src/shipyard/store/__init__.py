"""Metadata store: SQLAlchemy 2 tables, engines for SQLite and PostgreSQL, Alembic migrations."""

from shipyard.store.base import Base, TZDateTime, new_id, utcnow
from shipyard.store.engine import Database
from shipyard.store.pagination import Page, paginate
from shipyard.store.schema import SchemaState, SchemaStatus

__all__ = [
    "Base",
    "Database",
    "Page",
    "SchemaState",
    "SchemaStatus",
    "TZDateTime",
    "new_id",
    "paginate",
    "utcnow",
]
