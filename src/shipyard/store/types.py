"""Column types shared by several domains."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Integer
from sqlalchemy.dialects.postgresql import JSONB

# An autoincrementing 64-bit key. On SQLite only INTEGER PRIMARY KEY aliases the rowid
# (and so autoincrements), so the type is INTEGER there and BIGINT elsewhere.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")

# JSON documents: JSONB on PostgreSQL (indexable, compact), JSON text on SQLite.
JSONDoc = JSON().with_variant(JSONB(), "postgresql")
