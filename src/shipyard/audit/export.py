"""The export file: JSON Lines, verifiable with nothing but the file and a public key.

One JSON object per line, each with a ``type``, in this order::

    {"type": "header", "format": "shipyard-audit-export", "version": 1, "hash_version": 1,
     "exported_at": …, "first_seq": 1, "last_seq": 1200, "anchor": "<prev_hash of first_seq>",
     "head_seq": 1200, "head_hash": …, "checkpoint_interval": 100,
     "public_keys": [{"key_id": …, "algorithm": "ed25519", "public_key_pem": …, "signing": true}]}
    {"type": "checkpoint", "id": 1, "tree_size": 100, "head_hash": …, "signed_at": …,
     "key_id": …, "interval": 100, "signature": …}                         (every checkpoint in range)
    {"type": "entry", "id": 1, "seq": 1, "at": …, "actor": …, …, "prev_hash": …, "hash": …}
    {"type": "end", "entries": 1200, "last_seq": 1200, "last_hash": …}

Checkpoints come before the entries so that cutting the end off the file leaves a
checkpoint pointing past the cut; a file without its ``end`` line was cut as well.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, Literal, TextIO, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ValidationError

from shipyard.audit.chain import GENESIS, HASH_VERSION
from shipyard.audit.keys import KeyRing, parse_public_key
from shipyard.audit.schemas import (
    AuditEntryOut,
    CheckpointOut,
    Problem,
    ProblemKind,
    PublicKeyOut,
    VerifyReport,
)
from shipyard.audit.verify import Progress, Verifier
from shipyard.errors import InvalidArgument

M = TypeVar("M", bound=BaseModel)


class ExportHeader(BaseModel):
    type: Literal["header"] = "header"
    format: Literal["shipyard-audit-export"] = "shipyard-audit-export"
    version: Literal[1] = 1
    hash_version: int = HASH_VERSION
    exported_at: datetime
    first_seq: int
    last_seq: int
    anchor: str
    head_seq: int
    head_hash: str
    checkpoint_interval: int
    public_keys: list[PublicKeyOut]


class ExportEnd(BaseModel):
    type: Literal["end"] = "end"
    entries: int
    last_seq: int | None
    last_hash: str | None


def _line(kind: str, model: BaseModel) -> str:
    body: dict[str, Any] = {"type": kind, **model.model_dump(mode="json", exclude={"type"})}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")) + "\n"


def write_export(
    out: TextIO,
    header: ExportHeader,
    checkpoints: Iterable[CheckpointOut],
    entries: Iterable[AuditEntryOut],
    progress: Progress | None = None,
) -> ExportEnd:
    """Write one export; ``entries`` must be seq ``first_seq`` to ``last_seq`` in order."""
    out.write(_line("header", header))
    for cp in checkpoints:
        out.write(_line("checkpoint", cp))
    count, last = 0, None
    for entry in entries:
        out.write(_line("entry", entry))
        count, last = count + 1, entry
        if progress is not None:
            progress(1)
    end = ExportEnd(entries=count, last_seq=last.seq if last else None, last_hash=last.hash if last else None)
    out.write(_line("end", end))
    return end


# -- reading -----------------------------------------------------------------------------
class _Malformed(Exception):
    def __init__(self, number: int, why: str) -> None:
        super().__init__(f"line {number}: {why}")


def _records(lines: Iterable[str]) -> Iterator[tuple[int, str, dict[str, Any]]]:
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except ValueError:
            raise _Malformed(number, "not JSON") from None
        if not isinstance(record, dict) or not isinstance(record.get("type"), str):
            raise _Malformed(number, "not an export record (no type)")
        yield number, record["type"], record


def read_header(records: Iterator[tuple[int, str, dict[str, Any]]], name: str) -> ExportHeader:
    not_export = InvalidArgument(f"{name} is not a Shipyard audit export", {"field": "file"})
    try:
        _, kind, record = next(records)
        if kind != "header":
            raise not_export
        return ExportHeader.model_validate(record)
    except (StopIteration, _Malformed, ValidationError):
        raise not_export from None


def keys_of(header: ExportHeader) -> list[Ed25519PublicKey]:
    return [parse_public_key(k.public_key_pem, f"public key {k.key_id} in the export") for k in header.public_keys]


def read_checkpoints(lines: Iterable[str], name: str) -> tuple[list[CheckpointOut], list[Ed25519PublicKey]]:
    """The checkpoints and public keys of an earlier export (to check a newer chain against)."""
    records = _records(lines)
    header = read_header(records, name)
    found: list[CheckpointOut] = []
    try:
        for number, kind, record in records:
            if kind == "checkpoint":
                found.append(_parse(CheckpointOut, record, number))
    except _Malformed as exc:
        raise InvalidArgument(f"{name}: {exc}", {"field": "file"}) from None
    return found, keys_of(header)


def _parse(model: type[M], record: dict[str, Any], number: int) -> M:
    try:
        return model.model_validate(record)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise _Malformed(number, f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None


def verify_export(
    lines: Iterable[str],
    name: str,
    *,
    pinned: list[Ed25519PublicKey] | None = None,
    extra_checkpoints: Iterable[CheckpointOut] = (),
    extra_keys: Iterable[Ed25519PublicKey] = (),
    progress: Progress | None = None,
) -> VerifyReport:
    """Verify an export with no database. ``pinned``: the public keys to trust (else the
    ones the export carries, which proves integrity only if the file came from a trusted
    place). ``extra_checkpoints``: checkpoints kept from earlier exports, checked too."""
    records = _records(lines)
    header = read_header(records, name)
    keyring = KeyRing(pinned) if pinned else KeyRing([*keys_of(header), *extra_keys])
    notes = [
        "signatures checked with the pinned public key"
        if pinned
        else "signatures checked with the public key inside the export: pin it with --public-key"
    ]
    if header.first_seq > 1:
        notes.append(f"the export starts at seq {header.first_seq}: its link to earlier entries is taken on trust")
    walk = _Walk(header, keyring, list(extra_checkpoints), notes, progress)
    try:
        walk.run(records)
    except _Malformed as exc:
        walk.fail(Problem(kind=ProblemKind.MALFORMED, seq=walk.seen + 1, message=f"{name}: {exc}"))
    return walk.report()


class _Walk:
    """One pass over an export's records after its header."""

    def __init__(
        self,
        header: ExportHeader,
        keyring: KeyRing,
        checkpoints: list[CheckpointOut],
        notes: list[str],
        progress: Progress | None,
    ) -> None:
        self.header = header
        self.keyring = keyring
        self.checkpoints = checkpoints
        self.notes = notes
        self.progress = progress
        self.verifier: Verifier | None = None
        self.end: ExportEnd | None = None
        self.problem: Problem | None = None  # about the file itself (cut, malformed)
        self.stopped = False
        self.seen = header.first_seq - 1  # the last entry's seq read from the file

    def _start(self) -> Verifier:
        if self.verifier is None:
            header = self.header
            unique = {cp.signature: cp for cp in self.checkpoints}
            self.verifier = Verifier(
                self.keyring,
                unique.values(),
                first_seq=header.first_seq,
                anchor=header.anchor,
                interval=header.checkpoint_interval,
                coverage=header.last_seq == header.head_seq,
            )
            self.verifier.notes = self.notes
        return self.verifier

    def run(self, records: Iterator[tuple[int, str, dict[str, Any]]]) -> None:
        if self.header.first_seq == 1 and self.header.anchor != GENESIS:
            self.fail(
                Problem(kind=ProblemKind.MALFORMED, seq=1, message="the header's anchor for seq 1 is not genesis")
            )
            return
        for number, kind, record in records:
            if self.end is not None:
                raise _Malformed(number, "a record after the end record")
            if kind == "checkpoint":
                if self.verifier is not None:
                    raise _Malformed(number, "a checkpoint after the first entry")
                self.checkpoints.append(_parse(CheckpointOut, record, number))
            elif kind == "entry":
                self._entry(_parse(AuditEntryOut, record, number))
            elif kind == "end":
                self.end = _parse(ExportEnd, record, number)
            else:
                raise _Malformed(number, f"unknown record type {kind!r}")

    def _entry(self, entry: AuditEntryOut) -> None:
        verifier = self._start()
        self.seen = entry.seq
        if not self.stopped and not verifier.add(entry):
            self.stopped = True
        if self.progress is not None:
            self.progress(1)

    def fail(self, problem: Problem) -> None:
        if self.problem is None:
            self.problem = problem

    def report(self) -> VerifyReport:
        """The verifier's answer, unless the file itself went wrong at or before that point."""
        report = self._start().report()
        if report.problem is None:
            self.fail_if_cut(report)
        mine, chain = self.problem, report.problem
        if mine is not None and (chain is None or (chain.seq or 0) >= (mine.seq or 0)):
            report = report.model_copy(update={"ok": False, "problem": mine})
        return report

    def fail_if_cut(self, report: VerifyReport) -> None:
        last = report.last_seq or self.header.first_seq - 1
        if self.end is None:
            self.fail(
                Problem(
                    kind=ProblemKind.TRUNCATED,
                    seq=last + 1,
                    message=f"the export has no end record: the file was cut after seq {last}",
                )
            )
        elif self.header.last_seq != last or self.end.entries != report.entries:
            self.fail(
                Problem(
                    kind=ProblemKind.TRUNCATED,
                    seq=last + 1,
                    message=f"the export promises entries up to seq {self.header.last_seq} "
                    f"({self.end.entries} entries) but holds {report.entries}, ending at seq {last}",
                )
            )
