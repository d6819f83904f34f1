"""audit chain: events become hash-chained entries; chain head; signed checkpoints

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04

Events recorded by an earlier release are chained here, in id order, with the version-1
encoding of :mod:`shipyard.audit.chain` (their ``source`` is unknown: null).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import shipyard.store.base
from shipyard.audit.chain import GENESIS, EntryFields, change_digest, entry_hash

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000
CHAIN_COLUMNS = ("seq", "change_digest", "prev_hash", "hash")

_events = sa.table(
    "events",
    sa.column("id", sa.BigInteger()),
    sa.column("project_id", sa.String()),
    sa.column("at", shipyard.store.base.TZDateTime()),
    sa.column("actor", sa.String()),
    sa.column("action", sa.String()),
    sa.column("object_type", sa.String()),
    sa.column("object_id", sa.String()),
    sa.column("request_id", sa.String()),
    sa.column("details", sa.JSON().with_variant(postgresql.JSONB(), "postgresql")),
    sa.column("seq", sa.BigInteger()),
    sa.column("change_digest", sa.String()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("change_digest", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))

    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("signed_at", shipyard.store.base.TZDateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("interval", sa.Integer(), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
    )
    with op.batch_alter_table("audit_checkpoints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_checkpoints_tree_size"), ["tree_size"], unique=False)

    seq, last_hash = _chain_existing_events()

    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("checkpoint_seq", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_audit_head_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.execute(
        sa.table("audit_head", sa.column("id"), sa.column("seq"), sa.column("hash"), sa.column("checkpoint_seq"))
        .insert()
        .values(id=1, seq=seq, hash=last_hash, checkpoint_seq=0)
    )

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.alter_column("seq", existing_type=sa.BigInteger(), nullable=False)
        for name in CHAIN_COLUMNS[1:]:
            batch_op.alter_column(name, existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_events_seq"), ["seq"])


def _chain_existing_events() -> tuple[int, str]:
    """Chain every event already recorded, oldest id first; return the new head."""
    conn = op.get_bind()
    seq, prev = 0, GENESIS
    last_id = 0
    update = (
        _events.update()
        .where(_events.c.id == sa.bindparam("event_id"))
        .values({name: sa.bindparam(f"new_{name}") for name in CHAIN_COLUMNS})
    )
    while True:
        rows = conn.execute(sa.select(_events).where(_events.c.id > last_id).order_by(_events.c.id).limit(BATCH)).all()
        if not rows:
            return seq, prev
        params = []
        for row in rows:
            seq += 1
            digest = change_digest(row.details or {})
            fields = EntryFields(
                seq=seq,
                prev_hash=prev,
                at=row.at,
                actor=row.actor,
                action=row.action,
                project_id=row.project_id,
                object_type=row.object_type,
                object_id=row.object_id,
                request_id=row.request_id,
                source=None,
                change_digest=digest,
            )
            entry_digest = entry_hash(fields)
            params.append(
                {
                    "event_id": row.id,
                    "new_seq": seq,
                    "new_change_digest": digest,
                    "new_prev_hash": prev,
                    "new_hash": entry_digest,
                }
            )
            prev = entry_digest
        conn.execute(update, params)
        last_id = rows[-1].id


def downgrade() -> None:
    op.drop_table("audit_head")
    with op.batch_alter_table("audit_checkpoints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_checkpoints_tree_size"))
    op.drop_table("audit_checkpoints")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_events_seq"), type_="unique")
        for name in ("hash", "prev_hash", "change_digest", "seq", "source"):
            batch_op.drop_column(name)
