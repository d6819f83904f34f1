"""The audit log's API objects. An :class:`AuditEntryOut` is also one entry line of an
export, and a :class:`CheckpointOut` one checkpoint line (see :mod:`shipyard.audit.export`)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class AuditEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int | None = Field(description="Row id of the event (not hashed).")
    seq: int = Field(description="Position in the chain, gapless from 1.")
    at: datetime
    actor: str
    action: str
    project_id: str | None
    project: str | None = Field(default=None, description="The project's name (informational, not hashed).")
    object_type: str
    object_id: str
    request_id: str | None
    source: str | None = Field(description="The caller's network address, when known.")
    details: dict[str, Any]
    change_digest: str = Field(description="sha256 of the canonical JSON of details.")
    prev_hash: str
    hash: str


class AuditEntryList(BaseModel):
    entries: list[AuditEntryOut]
    next_page_token: str | None = None


class CheckpointOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int | None = None
    tree_size: int = Field(description="How many entries the checkpoint covers (seq 1 to tree_size).")
    head_hash: str = Field(description="The hash of entry tree_size.")
    signed_at: datetime
    key_id: str
    interval: int = Field(description="The automatic checkpoint interval in force when signed (0: none).")
    signature: str = Field(description="Ed25519 signature (hex) of the canonical checkpoint payload.")


class CheckpointIssued(CheckpointOut):
    created: bool = Field(description="False when the head was already signed by this key.")


class CheckpointList(BaseModel):
    checkpoints: list[CheckpointOut]
    next_page_token: str | None = None


class HeadOut(BaseModel):
    seq: int = Field(description="The newest entry's seq (0: empty log).")
    hash: str
    checkpoint_seq: int = Field(description="Tree size of the newest checkpoint.")
    checkpoint_interval: int


class PublicKeyOut(BaseModel):
    key_id: str
    algorithm: Literal["ed25519"] = "ed25519"
    public_key_pem: str
    signing: bool = Field(description="True for the key that signs new checkpoints.")


class PublicKeys(BaseModel):
    keys: list[PublicKeyOut]
    checkpoint_interval: int


class ProblemKind(enum.StrEnum):
    HASH_MISMATCH = "hash_mismatch"  # an entry's fields (or details) no longer match its hash
    BROKEN_LINK = "broken_link"  # an entry does not link to the one before it
    GAP = "gap"  # seq values are missing
    DUPLICATE = "duplicate"  # two entries share a seq
    REORDERED = "reordered"  # entries appear out of their chain order
    TRUNCATED = "truncated"  # the chain is shorter than a checkpoint (or the head) says
    CHECKPOINT_MISMATCH = "checkpoint_mismatch"  # a signed head hash differs from the chain's
    BAD_SIGNATURE = "bad_signature"  # a checkpoint's signature does not verify
    MISSING_CHECKPOINT = "missing_checkpoint"  # more unsigned entries than the interval allows
    HEAD_MISMATCH = "head_mismatch"  # the chain head does not match the last entry
    MALFORMED = "malformed"  # an export file that is not one


class Problem(BaseModel):
    kind: ProblemKind
    seq: int | None = Field(default=None, description="The first broken entry's seq.")
    event_id: int | None = Field(default=None, description="Its row id, when known.")
    checkpoint_id: int | None = None
    message: str


class VerifyReport(BaseModel):
    ok: bool
    entries: int = Field(description="Entries checked.")
    first_seq: int | None = None
    last_seq: int | None = None
    last_hash: str | None = None
    checkpoints: int = Field(description="Checkpoints whose signature and head hash were confirmed.")
    latest_checkpoint: int | None = Field(default=None, description="Tree size of the newest valid checkpoint.")
    unsigned_entries: int = Field(description="Entries after the newest valid checkpoint.")
    problem: Problem | None = None
    notes: list[str] = Field(default_factory=list)
