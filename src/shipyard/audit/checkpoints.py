"""Signed checkpoints: "the first ``tree_size`` entries end in ``head_hash``".

The signature covers the canonical JSON of::

    {"type": "shipyard.audit.checkpoint", "v": 1, "tree_size": 1200,
     "head_hash": "<64 hex>", "signed_at": "2026-12-04T10:00:00.000000Z",
     "key_id": "<16 hex>", "interval": 100}

A checkpoint is issued automatically, in the same unit of work as the entries, whenever
``audit.checkpoint_interval`` entries have been appended since the last one (so the
newest checkpoint is never that many entries behind the head), and on demand
(``shipyard audit checkpoint``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.audit.chain import HASH_VERSION, canonical_json, format_time
from shipyard.audit.head import Head, lock_head, save_head
from shipyard.audit.keys import DEFAULT_KEY_FILE, KeyRing, Signer, load_or_create_signing_key, read_public_key
from shipyard.audit.tables import AuditCheckpoint
from shipyard.errors import Conflict
from shipyard.settings import Settings
from shipyard.store.base import utcnow

PAYLOAD_TYPE = "shipyard.audit.checkpoint"


class Signed(Protocol):
    """What a checkpoint signature covers (a table row, an API object, an export line)."""

    @property
    def tree_size(self) -> int: ...
    @property
    def head_hash(self) -> str: ...
    @property
    def signed_at(self) -> datetime: ...
    @property
    def key_id(self) -> str: ...
    @property
    def interval(self) -> int: ...
    @property
    def signature(self) -> str: ...


def payload(cp: Signed) -> bytes:
    document: dict[str, Any] = {
        "type": PAYLOAD_TYPE,
        "v": HASH_VERSION,
        "tree_size": cp.tree_size,
        "head_hash": cp.head_hash,
        "signed_at": format_time(cp.signed_at),
        "key_id": cp.key_id,
        "interval": cp.interval,
    }
    return canonical_json(document)


@dataclass(frozen=True)
class Notary:
    """Who signs checkpoints, which keys verify them, and how often they are issued."""

    signer: Signer
    interval: int
    keyring: KeyRing = field(default_factory=KeyRing)

    @classmethod
    def from_settings(cls, settings: Settings) -> Notary:
        cfg = settings.audit
        path = (cfg.signing_key_path or settings.home / DEFAULT_KEY_FILE).expanduser()
        signer = load_or_create_signing_key(path)
        retired = [read_public_key(p.expanduser(), "audit.trusted_public_keys") for p in cfg.trusted_public_keys]
        return cls(signer=signer, interval=cfg.checkpoint_interval, keyring=KeyRing([signer.public_key, *retired]))

    def due(self, head: Head) -> bool:
        return self.interval > 0 and head.seq - head.checkpoint_seq >= self.interval

    def sign(self, session: Session, head: Head) -> AuditCheckpoint:
        """Sign ``head`` (locked by the caller) and record the checkpoint in ``session``."""
        checkpoint = AuditCheckpoint(
            tree_size=head.seq,
            head_hash=head.hash,
            signed_at=utcnow(),
            key_id=self.signer.key_id,
            interval=self.interval,
            signature="",
        )
        checkpoint.signature = self.signer.sign(payload(checkpoint))
        session.add(checkpoint)
        head.checkpoint_seq = head.seq
        return checkpoint


def issue(session: Session, notary: Notary) -> tuple[AuditCheckpoint, bool]:
    """Sign the current head now; returns the checkpoint and whether it is new (a head
    already signed by this key is not signed twice)."""
    head = lock_head(session)
    if head.seq == 0:
        raise Conflict("the audit log is empty: there is nothing to sign yet", {"tree_size": 0})
    latest = session.scalars(
        select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc(), AuditCheckpoint.id.desc()).limit(1)
    ).first()
    if latest is not None and latest.tree_size == head.seq and latest.key_id == notary.signer.key_id:
        return latest, False
    checkpoint = notary.sign(session, head)
    save_head(session, head)
    session.flush()
    return checkpoint, True


def trusted_keyring(notary: Notary, extra: list[Path]) -> KeyRing:
    """The notary's keys plus public key files named by a verifier."""
    return KeyRing([*notary.keyring.keys.values(), *(read_public_key(p, "public_key") for p in extra)])
