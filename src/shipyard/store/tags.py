"""Key/value tags on any object: one rule for every ``*_tags`` table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Table, delete
from sqlalchemy.orm import Session

from shipyard.store.upsert import upsert


def put_tag(session: Session, table: Table, owner: Mapping[str, Any], key: str, value: str) -> None:
    """Set ``key`` on the object ``owner`` names (its primary-key columns), replacing a value."""
    upsert(session, table, [{**owner, "key": key, "value": value}], key=[*owner, "key"], update=["value"])


def remove_tag(session: Session, table: Table, owner: Mapping[str, Any], key: str) -> bool:
    """Delete ``key`` from the object; False when it had no such tag."""
    stmt = delete(table).where(*(table.c[column] == value for column, value in owner.items()), table.c.key == key)
    return bool(session.execute(stmt).rowcount)  # type: ignore[attr-defined]
