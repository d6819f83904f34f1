"""INSERT … ON CONFLICT for both backends, written once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def upsert(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    key: Sequence[str],
    update: Sequence[str],
    where: Any = None,
) -> None:
    """Insert ``rows``; on a ``key`` conflict overwrite ``update`` columns, optionally only
    when ``where(existing, excluded)`` holds."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(table)
    condition: ColumnElement[bool] | None = where(table.c, stmt.excluded) if where is not None else None
    stmt = stmt.on_conflict_do_update(
        index_elements=list(key),
        set_={name: stmt.excluded[name] for name in update},
        where=condition,
    )
    session.execute(stmt, list(rows))


def insert_ignore(session: Session, table: Table, rows: Sequence[dict[str, Any]], *, key: Sequence[str]) -> None:
    """Insert ``rows``, skipping those whose ``key`` already exists."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(table).on_conflict_do_nothing(index_elements=list(key))
    session.execute(stmt, list(rows))
