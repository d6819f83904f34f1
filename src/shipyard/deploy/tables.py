"""Deployment tables: endpoints (desired spec + the traffic now), their revisions (one
rollout each, with its state-machine fields) and every transition of a rollout."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.store.base import Base, TZDateTime, new_id, utcnow
from shipyard.store.types import BigIntPK, JSONDoc


class Endpoint(Base):
    __tablename__ = "endpoints"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(32), ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(63))
    # The desired state: the spec of the latest revision, canonical (defaults filled in).
    spec: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    spec_digest: Mapped[str] = mapped_column(String(64))
    revision: Mapped[int] = mapped_column(Integer, default=0)  # the latest revision's number
    # The routes the last promoted revision reached ([{model, version, weight}]).
    stable_routes: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc)
    # The split now ([{model, version, weight}], weights in percent, floats).
    traffic: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc)
    phase: Mapped[str] = mapped_column(String(16))  # the latest revision's rollout phase
    created_by: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow, onupdate=utcnow)


class EndpointRollout(Base):
    """One revision of an endpoint's spec and the rollout that carries it to traffic."""

    __tablename__ = "endpoint_rollouts"
    __table_args__ = (UniqueConstraint("endpoint_id", "revision"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"))
    revision: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # create, apply, retry, rollback
    strategy: Mapped[str] = mapped_column(String(16))
    spec: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    from_routes: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc)  # stable when it began
    to_routes: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc)  # desired
    phase: Mapped[str] = mapped_column(String(16))
    step_index: Mapped[int] = mapped_column(Integer, default=0)
    weight: Mapped[float] = mapped_column(Float, default=0.0)  # percent following to_routes
    message: Mapped[str] = mapped_column(Text, default="")  # the reason of the last transition
    analysis: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)  # the judge's last verdict
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    phase_since: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(TZDateTime)


class EndpointTransition(Base):
    """Every change of a rollout's phase, step or weight: who, when, why."""

    __tablename__ = "endpoint_transitions"
    __table_args__ = (Index("ix_endpoint_transitions_rollout", "rollout_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"))
    rollout_id: Mapped[int] = mapped_column(ForeignKey("endpoint_rollouts.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(255))
    from_phase: Mapped[str | None] = mapped_column(String(16))
    to_phase: Mapped[str] = mapped_column(String(16))
    step_index: Mapped[int] = mapped_column(Integer)
    weight: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text)
