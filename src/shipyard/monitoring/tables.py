"""Monitoring tables: monitors (what to compare, how often) and their results (a time series).

``monitor_results`` is read by alerting (rules over monitor results): keep its name and
columns stable.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.store.base import Base, TZDateTime, new_id, utcnow
from shipyard.store.types import BigIntPK, JSONDoc


class Monitor(Base):
    """A window of an endpoint's prediction log compared with a reference, on a schedule or on demand."""

    __tablename__ = "monitors"
    __table_args__ = (
        UniqueConstraint("project_id", "name"),
        Index("ix_monitors_due", "enabled", "next_run_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(32), ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(63))
    endpoint: Mapped[str] = mapped_column(String(128))
    # The MonitorSpec (shipyard.monitoring.schemas), canonical (defaults filled in).
    spec: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    schedule: Mapped[str | None] = mapped_column(String(128))  # cron expression (UTC); None: on demand only
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    next_run_at: Mapped[datetime | None] = mapped_column(TZDateTime)  # when the schedule is next due
    last_run_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    last_status: Mapped[str | None] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow, onupdate=utcnow)


class MonitorResult(Base):
    """One run of a monitor: the window it looked at and what it found.

    ``status``: ``ok``; ``warning`` (a column drifted, a quality check or a performance
    check failed, short of dataset drift); ``drift`` (dataset-level drift); ``no_data`` (the
    window held no prediction); ``error`` (the run failed: ``message`` says why)."""

    __tablename__ = "monitor_results"
    __table_args__ = (
        Index("ix_monitor_results_monitor_window", "monitor_id", "window_end"),
        Index("ix_monitor_results_project_created", "project_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    monitor_id: Mapped[str] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(String(32), ForeignKey("projects.id", ondelete="CASCADE"))
    endpoint: Mapped[str] = mapped_column(String(128))
    trigger: Mapped[str] = mapped_column(String(16))  # schedule, manual
    status: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text, default="")
    window_start: Mapped[datetime | None] = mapped_column(TZDateTime)
    window_end: Mapped[datetime] = mapped_column(TZDateTime)
    n_rows: Mapped[int] = mapped_column(Integer, default=0)  # predictions in the window
    n_labeled: Mapped[int] = mapped_column(Integer, default=0)  # of which have feedback
    reference_rows: Mapped[int] = mapped_column(Integer, default=0)
    drift_share: Mapped[float | None] = mapped_column(Float)  # share of compared columns that drifted
    dataset_drift: Mapped[bool | None] = mapped_column(Boolean)
    drifted_columns: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    # Per column: ColumnDrift (method, statistic, threshold, drifted, sizes, missing rates, details).
    features: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc, default=list)
    quality_passed: Mapped[bool | None] = mapped_column(Boolean)
    quality: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)  # QualityReport (failed checks listed first)
    performance: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)  # PerformanceReport
    duration_ms: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)


__all__ = ["Monitor", "MonitorResult"]
