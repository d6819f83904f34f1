from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.store.base import Base, TZDateTime, utcnow
from shipyard.store.types import BigIntPK, JSONDoc


class Event(Base):
    """One state change (or denied access). Append-only, and an entry of the audit log:
    ``seq``/``prev_hash``/``hash`` chain it to every entry before it
    (:mod:`shipyard.audit.chain`). Write it only through
    :func:`shipyard.events.service.record`, which chains it when its unit of work commits."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_project_at", "project_id", "at"),
        Index("ix_events_object", "object_type", "object_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    project_id: Mapped[str | None] = mapped_column(String(32), ForeignKey("projects.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(255))
    request_id: Mapped[str | None] = mapped_column(String(128))
    details: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    # The caller's network address, when the change came over the network.
    source: Mapped[str | None] = mapped_column(String(128))
    # Position in the audit chain: unique and gapless from 1, in commit order.
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    change_digest: Mapped[str] = mapped_column(String(64))  # sha256 of the canonical JSON of details
    prev_hash: Mapped[str] = mapped_column(String(64))  # the previous entry's hash (64 zeros for seq 1)
    hash: Mapped[str] = mapped_column(String(64))
