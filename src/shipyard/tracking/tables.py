"""Tracking tables: experiments, runs and what runs log (params, metrics, tags,
dataset inputs, artifacts). Shaped on MLflow's concepts so its REST API can be served
over them later without a second store."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Double, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.store.base import Base, TZDateTime, new_id, utcnow
from shipyard.store.types import BigIntPK, JSONDoc

KEY = 250  # longest param/metric/tag key, as MLflow


class Experiment(Base):
    __tablename__ = "experiments"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(String(32), ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    lifecycle_stage: Mapped[str] = mapped_column(String(16), default="active")  # active | archived
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow, onupdate=utcnow)


class ExperimentTag(Base):
    __tablename__ = "experiment_tags"

    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(KEY), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_experiment_start", "experiment_id", "start_time", "id"),
        Index("ix_runs_project_start", "project_id", "start_time", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(32), ForeignKey("projects.id", ondelete="CASCADE"))
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"))
    parent_run_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("runs.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(String(250))
    status: Mapped[str] = mapped_column(String(16), default="RUNNING")
    user_id: Mapped[str] = mapped_column(String(255), default="")
    start_time: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    end_time: Mapped[datetime | None] = mapped_column(TZDateTime)
    lifecycle_stage: Mapped[str] = mapped_column(String(16), default="active")  # active | deleted
    source: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow, onupdate=utcnow)


class Param(Base):
    __tablename__ = "params"
    # (key, run_id), not (key, value): values up to 6,000 characters would overflow
    # PostgreSQL's btree entry limit (~2.7 kB). Searches probe the primary key per run.
    __table_args__ = (Index("ix_params_key_run", "key", "run_id"),)

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(KEY), primary_key=True)
    value: Mapped[str] = mapped_column(String(6000))


class RunTag(Base):
    __tablename__ = "run_tags"
    __table_args__ = (Index("ix_run_tags_key_run", "key", "run_id"),)

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(KEY), primary_key=True)
    value: Mapped[str] = mapped_column(String(8000))


class Metric(Base):
    """Every logged point. ``value`` NULL means NaN (SQLite cannot store NaN; the same
    rule on both backends keeps them identical); ±inf are stored as such."""

    __tablename__ = "metrics"
    __table_args__ = (Index("ix_metrics_run_key_step", "run_id", "key", "step"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(KEY))
    value: Mapped[float | None] = mapped_column(Double)
    step: Mapped[int] = mapped_column(BigInteger, default=0)
    timestamp_ms: Mapped[int] = mapped_column(BigInteger)


class LatestMetric(Base):
    """The latest point per (run, key): highest step, then newest timestamp. Search and
    ordering read this, never the full history."""

    __tablename__ = "latest_metrics"
    # Covering: a metric filter or sort is answered from the index alone.
    __table_args__ = (Index("ix_latest_metrics_key_value_run", "key", "value", "run_id"),)

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(KEY), primary_key=True)
    value: Mapped[float | None] = mapped_column(Double)
    step: Mapped[int] = mapped_column(BigInteger)
    timestamp_ms: Mapped[int] = mapped_column(BigInteger)


class Dataset(Base):
    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("project_id", "name", "digest"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(32), ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    digest: Mapped[str] = mapped_column(String(64))
    source_uri: Mapped[str] = mapped_column(Text, default="")
    schema: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    row_count: Mapped[int | None] = mapped_column(BigInteger)
    profile: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)


class RunInput(Base):
    __tablename__ = "run_inputs"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    context: Mapped[str] = mapped_column(String(64), primary_key=True, default="training")


class RunArtifact(Base):
    """A file logged under a run (``runs:/<id>/<path>``); its bytes are a blob."""

    __tablename__ = "run_artifacts"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    path: Mapped[str] = mapped_column(String(1000), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
