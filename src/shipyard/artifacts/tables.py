from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.store.base import Base, TZDateTime, utcnow


class BlobRecord(Base):
    """That a project holds a blob. The bytes are shared (content addressing); the
    record is what makes a blob readable in a project."""

    __tablename__ = "blobs"
    __table_args__ = (Index("ix_blobs_project_created", "project_id", "created_at", "digest"),)

    project_id: Mapped[str] = mapped_column(String(32), ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
