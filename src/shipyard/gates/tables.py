"""Gate tables: evaluations attached to model versions, gate policies on (model, alias), verdicts.

A verdict is written whenever a gate is checked (explicitly, or by a promotion that passed)
and when a maintainer overrides a failing gate (``overridden_by`` and ``justification`` set).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.store.base import Base, TZDateTime, utcnow
from shipyard.store.types import BigIntPK, JSONDoc


class ModelEvaluation(Base):
    """An offline evaluation of a model version (``shipyard.evaluate``): the whole result document."""

    __tablename__ = "model_evaluations"
    __table_args__ = (Index("ix_model_evaluations_version", "version_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    model_id: Mapped[str] = mapped_column(ForeignKey("registered_models.id", ondelete="CASCADE"))
    version_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"))
    run_id: Mapped[str | None] = mapped_column(String(32), ForeignKey("runs.id", ondelete="SET NULL"))
    dataset_name: Mapped[str | None] = mapped_column(String(255))
    dataset_digest: Mapped[str | None] = mapped_column(String(64))
    baseline_version: Mapped[int | None] = mapped_column(Integer)
    result: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)


class GatePolicy(Base):
    """The rules a version must pass before ``@alias`` of a model may point at it."""

    __tablename__ = "gate_policies"

    model_id: Mapped[str] = mapped_column(ForeignKey("registered_models.id", ondelete="CASCADE"), primary_key=True)
    alias: Mapped[str] = mapped_column(String(255), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(String(64))
    updated_by: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)


class GateVerdict(Base):
    """One check of a policy against a version (``passed``), or an override of a failed one."""

    __tablename__ = "gate_verdicts"
    __table_args__ = (Index("ix_gate_verdicts_version_alias", "version_id", "alias", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    model_id: Mapped[str] = mapped_column(ForeignKey("registered_models.id", ondelete="CASCADE"))
    version_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"))
    alias: Mapped[str] = mapped_column(String(255))
    policy_digest: Mapped[str] = mapped_column(String(64))
    evaluation_id: Mapped[int | None] = mapped_column(ForeignKey("model_evaluations.id", ondelete="SET NULL"))
    baseline_version: Mapped[int | None] = mapped_column(Integer)
    passed: Mapped[bool] = mapped_column(Boolean)
    result: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    overridden_by: Mapped[str | None] = mapped_column(String(255))
    justification: Mapped[str | None] = mapped_column(Text)
