"""evaluation results and gate policies

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import shipyard.store.base

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _tz() -> shipyard.store.base.TZDateTime:
    return shipyard.store.base.TZDateTime(timezone=True)


def _fk(table: str, column: str, target: str, ondelete: str = "CASCADE") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "model_evaluations",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("model_id", sa.String(length=32), nullable=False),
        sa.Column("version_id", sa.String(length=32), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("dataset_name", sa.String(length=255), nullable=True),
        sa.Column("dataset_digest", sa.String(length=64), nullable=True),
        sa.Column("baseline_version", sa.Integer(), nullable=True),
        sa.Column("result", JSON_DOC, nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", _tz(), nullable=False),
        _fk("model_evaluations", "model_id", "registered_models"),
        _fk("model_evaluations", "project_id", "projects"),
        _fk("model_evaluations", "run_id", "runs", "SET NULL"),
        _fk("model_evaluations", "version_id", "model_versions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_evaluations")),
    )
    with op.batch_alter_table("model_evaluations", schema=None) as batch_op:
        batch_op.create_index("ix_model_evaluations_version", ["version_id", "id"], unique=False)
    op.create_table(
        "gate_policies",
        sa.Column("model_id", sa.String(length=32), nullable=False),
        sa.Column("alias", sa.String(length=255), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("updated_by", sa.String(length=255), nullable=False),
        sa.Column("updated_at", _tz(), nullable=False),
        _fk("gate_policies", "model_id", "registered_models"),
        _fk("gate_policies", "project_id", "projects"),
        sa.PrimaryKeyConstraint("model_id", "alias", name=op.f("pk_gate_policies")),
    )
    op.create_table(
        "gate_verdicts",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("model_id", sa.String(length=32), nullable=False),
        sa.Column("version_id", sa.String(length=32), nullable=False),
        sa.Column("alias", sa.String(length=255), nullable=False),
        sa.Column("policy_digest", sa.String(length=64), nullable=False),
        sa.Column("evaluation_id", BIGINT_PK, nullable=True),
        sa.Column("baseline_version", sa.Integer(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("result", JSON_DOC, nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", _tz(), nullable=False),
        sa.Column("overridden_by", sa.String(length=255), nullable=True),
        sa.Column("justification", sa.Text(), nullable=True),
        _fk("gate_verdicts", "evaluation_id", "model_evaluations", "SET NULL"),
        _fk("gate_verdicts", "model_id", "registered_models"),
        _fk("gate_verdicts", "project_id", "projects"),
        _fk("gate_verdicts", "version_id", "model_versions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gate_verdicts")),
    )
    with op.batch_alter_table("gate_verdicts", schema=None) as batch_op:
        batch_op.create_index("ix_gate_verdicts_version_alias", ["version_id", "alias", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("gate_verdicts", schema=None) as batch_op:
        batch_op.drop_index("ix_gate_verdicts_version_alias")
    op.drop_table("gate_verdicts")
    op.drop_table("gate_policies")
    with op.batch_alter_table("model_evaluations", schema=None) as batch_op:
        batch_op.drop_index("ix_model_evaluations_version")
    op.drop_table("model_evaluations")
