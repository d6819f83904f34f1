"""alerts: rules, receivers, SLOs, alert instances, notifications, deliveries, inputs

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import shipyard.store.base

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _bigint_pk() -> sa.types.TypeEngine[Any]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "alert_metric_samples",
        sa.Column("id", _bigint_pk(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=32), nullable=False),
        sa.Column("at", shipyard.store.base.TZDateTime(timezone=True), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.Column("errors", sa.Float(), nullable=False),
        sa.Column("buckets", _json(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_alert_metric_samples_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_metric_samples")),
    )
    op.create_index(
        "ix_alert_metric_samples_target", "alert_metric_samples", ["project_id", "target", "at"], unique=False
    )
    op.create_table(
        "alert_observations",
        sa.Column("id", _bigint_pk(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("series", sa.String(length=63), nullable=False),
        sa.Column("at", shipyard.store.base.TZDateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("labels", _json(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_alert_observations_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_observations")),
    )
    op.create_index("ix_alert_observations_series", "alert_observations", ["project_id", "series", "at"], unique=False)
    op.create_table(
        "alert_receivers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("url_redacted", sa.String(length=300), nullable=False),
        sa.Column("header_names", _json(), nullable=False),
        sa.Column("signed", sa.Boolean(), nullable=False),
        sa.Column("secrets", sa.Text(), nullable=False),
        sa.Column("retry", _json(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", shipyard.store.base.TZDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", shipyard.store.base.TZDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_alert_receivers_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_receivers")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_alert_receivers_project_id_name")),
    )
    op.create_table(
        "alert_rules",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("spec", _json(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", shipyard.store.base.TZDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", shipyard.store.base.TZDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_alert_rules_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_rules")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_alert_rules_project_id_name")),
    )
    op.create_table(
        "alert_slos",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("spec", _json(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", shipyard.store.base.TZDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", shipyard.store.base.TZDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_alert_slos_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_slos")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_alert_slos_project_id_name")),
    )
    op.create_table(
        "alerts",
        sa.Column("id", _bigint_pk(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("rule_id", sa.String(length=32), nullable=True),
        sa.Column("slo_id", sa.String(length=32), nullable=True),
        sa.Column("fingerprint", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("labels", _json(), nullable=False),
        sa.Column("severity", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("details", _json(), nullable=False),
        sa.Column("active_since", shipyard.store.base.TZDateTime(timezone=True), nullable=True),
        sa.Column("fired_at", shipyard.store.base.TZDateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", shipyard.store.base.TZDateTime(timezone=True), nullable=True),
        sa.Column("notified_at", shipyard.store.base.TZDateTime(timezone=True), nullable=True),
        sa.Column("observed_at", shipyard.store.base.TZDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", shipyard.store.base.TZDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_alerts_project_id_projects"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"], ["alert_rules.id"], name=op.f("fk_alerts_rule_id_alert_rules"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["slo_id"], ["alert_slos.id"], name=op.f("fk_alerts_slo_id_alert_slos"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("project_id", "fingerprint", name=op.f("uq_alerts_project_id_fingerprint")),
    )
    op.create_index("ix_alerts_project_status", "alerts", ["project_id", "status"], unique=False)
    op.create_table(
        "alert_notifications",
        sa.Column("id", _bigint_pk(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("alert_id", _bigint_pk(), nullable=True),
        sa.Column("receiver_id", sa.String(length=32), nullable=False),
        sa.Column("alert_name", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("event", _json(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", shipyard.store.base.TZDateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", shipyard.store.base.TZDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", shipyard.store.base.TZDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_alert_notifications_alert_id_alerts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_alert_notifications_project_id_projects"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["receiver_id"],
            ["alert_receivers.id"],
            name=op.f("fk_alert_notifications_receiver_id_alert_receivers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_notifications")),
    )
    op.create_index(
        "ix_alert_notifications_project_status", "alert_notifications", ["project_id", "status"], unique=False
    )
    op.create_table(
        "alert_deliveries",
        sa.Column("id", _bigint_pk(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("notification_id", _bigint_pk(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", shipyard.store.base.TZDateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["alert_notifications.id"],
            name=op.f("fk_alert_deliveries_notification_id_alert_notifications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_alert_deliveries_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_deliveries")),
    )
    op.create_index("ix_alert_deliveries_project", "alert_deliveries", ["project_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_alert_deliveries_project", table_name="alert_deliveries")
    op.drop_table("alert_deliveries")
    op.drop_index("ix_alert_notifications_project_status", table_name="alert_notifications")
    op.drop_table("alert_notifications")
    op.drop_index("ix_alerts_project_status", table_name="alerts")
    op.drop_table("alerts")
    op.drop_table("alert_slos")
    op.drop_table("alert_rules")
    op.drop_table("alert_receivers")
    op.drop_index("ix_alert_observations_series", table_name="alert_observations")
    op.drop_table("alert_observations")
    op.drop_index("ix_alert_metric_samples_target", table_name="alert_metric_samples")
    op.drop_table("alert_metric_samples")
