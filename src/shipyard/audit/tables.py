"""Audit tables: the chain head (one row, the lock every appender takes) and the signed
checkpoints. The chain itself is the ``events`` table (:class:`shipyard.events.tables.Event`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.store.base import Base, TZDateTime
from shipyard.store.types import BigIntPK

HEAD_ID = 1


class AuditHead(Base):
    """The newest entry of the chain. Appenders lock this row (``FOR UPDATE`` on
    PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serialises writers), so two units of
    work can never take the same ``seq`` or link to the same predecessor."""

    __tablename__ = "audit_head"
    __table_args__ = (CheckConstraint(f"id = {HEAD_ID}", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    checkpoint_seq: Mapped[int] = mapped_column(BigInteger)  # tree size of the newest checkpoint


class AuditCheckpoint(Base):
    """A signed statement "the chain's first ``tree_size`` entries end in ``head_hash``",
    signed with a key kept outside the database (:mod:`shipyard.audit.keys`)."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tree_size: Mapped[int] = mapped_column(BigInteger, index=True)
    head_hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(TZDateTime)
    key_id: Mapped[str] = mapped_column(String(32))
    # The automatic interval in force when signed (0: on demand only); verification uses
    # it to notice checkpoints that went missing.
    interval: Mapped[int] = mapped_column(Integer)
    signature: Mapped[str] = mapped_column(String(128))  # Ed25519, hex
