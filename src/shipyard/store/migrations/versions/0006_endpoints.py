"""endpoints, their revisions (rollouts) and rollout transitions

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import shipyard.store.base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _bigint_pk() -> sa.types.TypeEngine[Any]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "endpoints",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("spec", _json(), nullable=False),
        sa.Column("spec_digest", sa.String(length=64), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("stable_routes", _json(), nullable=False),
        sa.Column("traffic", _json(), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", shipyard.store.base.TZDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", shipyard.store.base.TZDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_endpoints_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_endpoints")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_endpoints_project_id_name")),
    )
    op.create_table(
        "endpoint_rollouts",
        sa.Column("id", _bigint_pk(), autoincrement=True, nullable=False),
        sa.Column("endpoint_id", sa.String(length=32), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("strategy", sa.String(length=16), nullable=False),
        sa.Column("spec", _json(), nullable=False),
        sa.Column("from_routes", _json(), nullable=False),
        sa.Column("to_routes", _json(), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("analysis", _json(), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", shipyard.store.base.TZDateTime(timezone=True), nullable=False),
        sa.Column("phase_since", shipyard.store.base.TZDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", shipyard.store.base.TZDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["endpoints.id"],
            name=op.f("fk_endpoint_rollouts_endpoint_id_endpoints"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_endpoint_rollouts")),
        sa.UniqueConstraint("endpoint_id", "revision", name=op.f("uq_endpoint_rollouts_endpoint_id_revision")),
    )
    op.create_table(
        "endpoint_transitions",
        sa.Column("id", _bigint_pk(), autoincrement=True, nullable=False),
        sa.Column("endpoint_id", sa.String(length=32), nullable=False),
        sa.Column("rollout_id", _bigint_pk(), nullable=False),
        sa.Column("at", shipyard.store.base.TZDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("from_phase", sa.String(length=16), nullable=True),
        sa.Column("to_phase", sa.String(length=16), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["endpoints.id"],
            name=op.f("fk_endpoint_transitions_endpoint_id_endpoints"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rollout_id"],
            ["endpoint_rollouts.id"],
            name=op.f("fk_endpoint_transitions_rollout_id_endpoint_rollouts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_endpoint_transitions")),
    )
    with op.batch_alter_table("endpoint_transitions", schema=None) as batch_op:
        batch_op.create_index("ix_endpoint_transitions_rollout", ["rollout_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("endpoint_transitions", schema=None) as batch_op:
        batch_op.drop_index("ix_endpoint_transitions_rollout")
    op.drop_table("endpoint_transitions")
    op.drop_table("endpoint_rollouts")
    op.drop_table("endpoints")
