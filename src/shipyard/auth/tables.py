"""Identity tables: principals (users and service accounts), role bindings, API tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.store.base import Base, TZDateTime, new_id, utcnow
from shipyard.store.types import JSONDoc

USER = "user"
SERVICE_ACCOUNT = "service_account"


class Principal(Base):
    """Someone or something that can hold roles and tokens.

    Users and service accounts share one table and one namespace of names, so a binding
    or an event's actor names exactly one of them. ``org_role`` is ``org_admin``,
    ``auditor`` or NULL; ``source`` is ``local`` (created by an admin) or ``oidc``
    (provisioned on first sign-in through the identity provider).
    """

    __tablename__ = "principals"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    org_role: Mapped[str | None] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(16), default="local")
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow, onupdate=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(TZDateTime)


class RoleBinding(Base):
    """One principal's role in one project (at most one binding per pair)."""

    __tablename__ = "role_bindings"
    __table_args__ = (
        UniqueConstraint("project_id", "principal_id"),
        Index("ix_role_bindings_principal", "principal_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(32), ForeignKey("projects.id", ondelete="CASCADE"))
    principal_id: Mapped[str] = mapped_column(String(32), ForeignKey("principals.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)


class ApiToken(Base):
    """An API token. Only the sha256 of its secret is stored; ``prefix`` finds the row
    and is safe to show (lists, logs); the secret is shown once, when it is issued."""

    __tablename__ = "api_tokens"
    __table_args__ = (Index("ix_api_tokens_principal", "principal_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    principal_id: Mapped[str] = mapped_column(String(32), ForeignKey("principals.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(63))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str] | None] = mapped_column(JSONDoc)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(TZDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(255))
