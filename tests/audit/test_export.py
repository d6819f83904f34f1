"""Export → offline verification, and tampering with the exported file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from shipyard.audit.chain import change_digest, entry_hash
from shipyard.audit.checkpoints import Notary, payload
from shipyard.audit.export import read_checkpoints, verify_export
from shipyard.audit.head import Head, lock_head
from shipyard.audit.keys import Signer, public_pem
from shipyard.audit.schemas import AuditEntryOut, CheckpointOut, ProblemKind, VerifyReport
from shipyard.client import Client
from shipyard.errors import InvalidArgument
from shipyard.events.tables import Event
from shipyard.settings import Settings
from shipyard.store.engine import Database

from .conftest import record, rehash, sql


@pytest.fixture
def client(settings: Settings, db: Database, notary: Notary) -> Iterator[Client]:
    record(db, 25)  # checkpoints at 10 and 20
    with Client(settings=settings) as c:
        yield c


def export(client: Client, path: Path, **kwargs: Any) -> list[dict[str, Any]]:
    with path.open("w", encoding="utf-8") as fh:
        client.export_audit(fh, **kwargs)
    return [json.loads(line) for line in path.read_text().splitlines()]


def write(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def check(path: Path, notary: Notary | None = None, **kwargs: Any) -> VerifyReport:
    pinned = [notary.signer.public_key] if notary else None
    with path.open(encoding="utf-8") as fh:
        return verify_export(fh, str(path), pinned=pinned, **kwargs)


def broken(report: VerifyReport, kind: ProblemKind, seq: int | None) -> str:
    assert report.problem is not None, report
    assert not report.ok
    assert (report.problem.kind, report.problem.seq) == (kind, seq), report.problem
    return report.problem.message


def entry_lines(records: list[dict[str, Any]]) -> list[int]:
    return [i for i, r in enumerate(records) if r["type"] == "entry"]


def test_the_export_holds_header_checkpoints_entries_and_end(client: Client, tmp_path: Path, notary: Notary) -> None:
    records = export(client, tmp_path / "a.jsonl")
    assert [r["type"] for r in records] == ["header", "checkpoint", "checkpoint", *["entry"] * 25, "end"]
    header = records[0]
    assert (header["first_seq"], header["last_seq"], header["head_seq"]) == (1, 25, 25)
    assert header["public_keys"][0]["public_key_pem"] == public_pem(notary.signer.public_key)
    assert records[-1] == {"type": "end", "entries": 25, "last_seq": 25, "last_hash": records[-2]["hash"]}


def test_a_clean_export_verifies_offline(client: Client, tmp_path: Path, notary: Notary) -> None:
    path = tmp_path / "a.jsonl"
    export(client, path)
    pinned = check(path, notary)
    assert (pinned.ok, pinned.entries, pinned.checkpoints, pinned.unsigned_entries) == (True, 25, 2, 5)
    assert "pinned" in pinned.notes[0]
    unpinned = check(path)
    assert unpinned.ok
    assert "--public-key" in unpinned.notes[0]


def test_an_edited_entry_in_the_file(client: Client, tmp_path: Path, notary: Notary) -> None:
    path = tmp_path / "a.jsonl"
    records = export(client, path)
    records[entry_lines(records)[4]]["actor"] = "mallory"
    write(path, records)
    broken(check(path, notary), ProblemKind.HASH_MISMATCH, 5)


def test_edited_details_in_the_file(client: Client, tmp_path: Path, notary: Notary) -> None:
    path = tmp_path / "a.jsonl"
    records = export(client, path)
    records[entry_lines(records)[9]]["details"]["i"] = 1000
    write(path, records)
    broken(check(path, notary), ProblemKind.HASH_MISMATCH, 10)


def test_a_deleted_entry_line(client: Client, tmp_path: Path, notary: Notary) -> None:
    path = tmp_path / "a.jsonl"
    records = export(client, path)
    del records[entry_lines(records)[6]]
    write(path, records)
    broken(check(path, notary), ProblemKind.GAP, 7)


def test_swapped_entry_lines(client: Client, tmp_path: Path, notary: Notary) -> None:
    path = tmp_path / "a.jsonl"
    records = export(client, path)
    i, j = entry_lines(records)[2:4]
    records[i], records[j] = records[j], records[i]
    write(path, records)
    assert "seq 3" in broken(check(path, notary), ProblemKind.REORDERED, 3)


@pytest.mark.parametrize("cut", [1, 3, 9])
def test_a_cut_file(client: Client, tmp_path: Path, notary: Notary, cut: int) -> None:
    """Cutting the end off: without the end record (and past a checkpoint) it shows."""
    path = tmp_path / "a.jsonl"
    records = export(client, path)
    write(path, records[:-cut])
    last = 25 - (cut - 1)
    message = broken(check(path, notary), ProblemKind.TRUNCATED, last + 1)
    assert "end record" in message or "checkpoint" in message


def test_a_forged_checkpoint_line(client: Client, tmp_path: Path, notary: Notary) -> None:
    path = tmp_path / "a.jsonl"
    records = export(client, path)
    records[1]["head_hash"] = "0" * 64
    write(path, records)
    broken(check(path, notary), ProblemKind.BAD_SIGNATURE, 10)


def test_a_file_rewritten_and_resigned_with_another_key_fails_only_against_the_pinned_key(
    client: Client, tmp_path: Path, notary: Notary
) -> None:
    path = tmp_path / "a.jsonl"
    records = export(client, path)
    forger = Signer(Ed25519PrivateKey.generate())
    entries = [AuditEntryOut.model_validate(r) for r in records if r["type"] == "entry"]
    prev = entries[0].prev_hash
    for entry, index in zip(entries, entry_lines(records), strict=True):
        details = {**entry.details, "i": "rewritten"} if entry.seq == 3 else entry.details
        digest = change_digest(details)
        new = entry.model_copy(update={"details": details, "change_digest": digest, "prev_hash": prev})
        new = new.model_copy(update={"hash": entry_hash(new)})
        records[index] = {"type": "entry", **new.model_dump(mode="json")}
        prev = new.hash
    hashes = {e["seq"]: e["hash"] for e in records if e["type"] == "entry"}
    for index in (1, 2):
        cp = CheckpointOut.model_validate(records[index]).model_copy(update={"key_id": forger.key_id})
        cp = cp.model_copy(update={"head_hash": hashes[cp.tree_size]})
        cp = cp.model_copy(update={"signature": forger.sign(payload(cp))})
        records[index] = {"type": "checkpoint", **cp.model_dump(mode="json")}
    records[0]["public_keys"] = [
        {
            "key_id": forger.key_id,
            "algorithm": "ed25519",
            "public_key_pem": public_pem(forger.public_key),
            "signing": True,
        }
    ]
    records[-1]["last_hash"] = prev
    write(path, records)
    assert check(path).ok  # self-consistent: this is why you pin the key
    assert "untrusted key" in broken(check(path, notary), ProblemKind.BAD_SIGNATURE, 10)


def test_a_partial_export_verifies_on_its_own(client: Client, tmp_path: Path, notary: Notary) -> None:
    path = tmp_path / "a.jsonl"
    records = export(client, path, since=11, until=22)
    header = records[0]
    assert (header["first_seq"], header["last_seq"]) == (11, 22)
    assert [r["tree_size"] for r in records if r["type"] == "checkpoint"] == [20]
    report = check(path, notary)
    assert (report.ok, report.entries, report.first_seq, report.last_seq, report.checkpoints) == (True, 12, 11, 22, 1)
    assert any("starts at seq 11" in n for n in report.notes)


def test_since_a_time_starts_at_the_first_entry_recorded_then(client: Client, tmp_path: Path) -> None:
    entries = list(client.iter_audit_entries())
    records = export(client, tmp_path / "a.jsonl", since=entries[17].at, until=entries[19].at)
    assert [r["seq"] for r in records if r["type"] == "entry"] == [18, 19, 20]
    later = export(client, tmp_path / "b.jsonl", since=entries[-1].at + timedelta(seconds=1))
    assert [r["type"] for r in later] == ["header", "end"]
    assert check(tmp_path / "b.jsonl").ok


def test_an_earlier_export_catches_a_rewrite_signed_with_the_real_key(
    client: Client, tmp_path: Path, db: Database, notary: Notary
) -> None:
    """If the signing key itself leaks, checkpoints kept from an earlier export still pin history."""
    old = tmp_path / "old.jsonl"
    export(client, old)
    sql(db, "UPDATE events SET actor = 'mallory' WHERE seq = 3")
    rehash(db, 3)
    sql(db, "DELETE FROM audit_checkpoints")
    with db.session() as session:
        head = lock_head(session)
        for size in (10, 20):
            rewritten = session.scalar(select(Event.hash).where(Event.seq == size))
            assert rewritten is not None
            notary.sign(session, Head(seq=size, hash=rewritten, checkpoint_seq=0))
    new = tmp_path / "new.jsonl"
    export(client, new)
    assert check(new, notary).ok  # re-signed with the stolen key: consistent on its own
    with old.open(encoding="utf-8") as fh:
        earlier, keys = read_checkpoints(fh, str(old))
    assert [k.public_bytes_raw() for k in keys] == [notary.signer.public_key.public_bytes_raw()]
    broken(check(new, notary, extra_checkpoints=earlier), ProblemKind.CHECKPOINT_MISMATCH, 10)
    assert head.seq == 25


def test_a_malformed_line_is_named(client: Client, tmp_path: Path, notary: Notary) -> None:
    path = tmp_path / "a.jsonl"
    export(client, path)
    lines = path.read_text().splitlines()
    lines[10] = lines[10][:40]
    path.write_text("\n".join(lines) + "\n")
    assert "line 11" in broken(check(path, notary), ProblemKind.MALFORMED, 8)


def test_a_file_that_is_not_an_export(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"hello": "world"}\n')
    with pytest.raises(InvalidArgument, match="not a Shipyard audit export"):
        check(path)
