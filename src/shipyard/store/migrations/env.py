"""Alembic environment: runs against the Database handed over in ``config.attributes``."""

from __future__ import annotations

from alembic import context

import shipyard.tables  # noqa: F401  (registers every table on Base.metadata)
from shipyard.store.base import Base
from shipyard.store.engine import Database

db = context.config.attributes["database"]
assert isinstance(db, Database)

with db.engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=db.dialect == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
