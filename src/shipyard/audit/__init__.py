"""The tamper-evident audit log: the events table as a hash chain, signed checkpoints,
verification and export (see docs/audit.md)."""

from shipyard.audit.schemas import (
    AuditEntryList,
    AuditEntryOut,
    CheckpointIssued,
    CheckpointList,
    CheckpointOut,
    HeadOut,
    Problem,
    ProblemKind,
    PublicKeyOut,
    PublicKeys,
    VerifyReport,
)

__all__ = [
    "AuditEntryList",
    "AuditEntryOut",
    "CheckpointIssued",
    "CheckpointList",
    "CheckpointOut",
    "HeadOut",
    "Problem",
    "ProblemKind",
    "PublicKeyOut",
    "PublicKeys",
    "VerifyReport",
]
