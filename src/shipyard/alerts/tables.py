"""Alerting tables: rules, receivers and SLOs (specs), alert instances (one row per
fingerprint, the state machine's state), notifications (an outbox: one row per alert
transition and receiver) and every delivery attempt; pushed observations and scraped
counter samples (the inputs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from shipyard.store.base import Base, TZDateTime, new_id, utcnow
from shipyard.store.types import BigIntPK, JSONDoc


class _Named:
    """What rules, receivers and SLOs share: a unique name in a project, who made it, when."""

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (UniqueConstraint("project_id", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(32), ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(63))
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow, onupdate=utcnow)


class AlertRule(_Named, Base):
    __tablename__ = "alert_rules"

    spec: Mapped[dict[str, Any]] = mapped_column(JSONDoc)  # the RuleSpec, canonical


class AlertReceiver(_Named, Base):
    __tablename__ = "alert_receivers"

    kind: Mapped[str] = mapped_column(String(16))  # webhook, slack
    url_redacted: Mapped[str] = mapped_column(String(300))
    header_names: Mapped[list[str]] = mapped_column(JSONDoc)
    signed: Mapped[bool] = mapped_column(default=False)
    # {"url", "headers", "signing_secret"}, Fernet-encrypted (shipyard.alerts.secrets).
    secrets: Mapped[str] = mapped_column(Text)
    retry: Mapped[dict[str, Any]] = mapped_column(JSONDoc)


class ServiceLevelObjective(_Named, Base):
    __tablename__ = "alert_slos"

    spec: Mapped[dict[str, Any]] = mapped_column(JSONDoc)  # the SLOSpec, canonical


class Alert(Base):
    """One alert instance (a rule's or an SLO burn window's label set) and its state."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("project_id", "fingerprint"),
        Index("ix_alerts_project_status", "project_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(String(32), ForeignKey("projects.id", ondelete="CASCADE"))
    rule_id: Mapped[str | None] = mapped_column(ForeignKey("alert_rules.id", ondelete="CASCADE"))
    slo_id: Mapped[str | None] = mapped_column(ForeignKey("alert_slos.id", ondelete="CASCADE"))
    fingerprint: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(128))
    labels: Mapped[dict[str, str]] = mapped_column(JSONDoc)
    severity: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    value: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    summary: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    active_since: Mapped[datetime | None] = mapped_column(TZDateTime)
    fired_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    notified_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    observed_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)


class AlertNotification(Base):
    """A notification owed to a receiver (the outbox): pending → sending → delivered | failed."""

    __tablename__ = "alert_notifications"
    __table_args__ = (Index("ix_alert_notifications_project_status", "project_id", "status"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(String(32), ForeignKey("projects.id", ondelete="CASCADE"))
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    receiver_id: Mapped[str] = mapped_column(ForeignKey("alert_receivers.id", ondelete="CASCADE"))
    alert_name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))  # firing, resolved, test
    event: Mapped[dict[str, Any]] = mapped_column(JSONDoc)  # the AlertEvent, as it was
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(TZDateTime)


class AlertDelivery(Base):
    """One attempt to deliver a notification."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (Index("ix_alert_deliveries_project", "project_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(String(32), ForeignKey("projects.id", ondelete="CASCADE"))
    notification_id: Mapped[int] = mapped_column(ForeignKey("alert_notifications.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(TZDateTime)
    outcome: Mapped[str] = mapped_column(String(16))  # delivered, failed
    http_status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str] = mapped_column(Text, default="")
    duration_ms: Mapped[float] = mapped_column(Float)


class AlertObservation(Base):
    """A value pushed to a named series."""

    __tablename__ = "alert_observations"
    __table_args__ = (Index("ix_alert_observations_series", "project_id", "series", "at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(String(32), ForeignKey("projects.id", ondelete="CASCADE"))
    series: Mapped[str] = mapped_column(String(63))
    at: Mapped[datetime] = mapped_column(TZDateTime)
    value: Mapped[float] = mapped_column(Float)
    labels: Mapped[dict[str, str]] = mapped_column(JSONDoc)


class MetricSample(Base):
    """Cumulative counters of one metrics target, scraped at ``at``."""

    __tablename__ = "alert_metric_samples"
    __table_args__ = (Index("ix_alert_metric_samples_target", "project_id", "target", "at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(String(32), ForeignKey("projects.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(32))  # digest of the MetricsTarget
    at: Mapped[datetime] = mapped_column(TZDateTime)
    total: Mapped[float] = mapped_column(Float)
    errors: Mapped[float] = mapped_column(Float)
    buckets: Mapped[dict[str, float]] = mapped_column(JSONDoc)  # le -> cumulative count ("+Inf" too)
