"""The audit log through the SDK: entries, checkpoints, keys, and verification and
export done on the caller's side (an auditor need not trust the server's own verdict)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from shipyard.audit import export
from shipyard.audit.chain import GENESIS
from shipyard.audit.head import Head
from shipyard.audit.keys import KeyRing, parse_public_key
from shipyard.audit.schemas import (
    AuditEntryList,
    AuditEntryOut,
    CheckpointIssued,
    CheckpointList,
    CheckpointOut,
    HeadOut,
    PublicKeys,
    VerifyReport,
)
from shipyard.audit.verify import Progress, Verifier, run
from shipyard.client.base import BaseClient, _all_pages, _page
from shipyard.store.pagination import Page

STREAM_PAGE = 1000  # entries per request when walking the whole chain (the default max_page_size)


class AuditAPI(BaseClient):
    # -- reading ---------------------------------------------------------------------
    def list_audit_entries(
        self,
        *,
        project: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        object_type: str | None = None,
        object_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        from_seq: int | None = None,
        to_seq: int | None = None,
        newest_first: bool = False,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> Page[AuditEntryOut]:
        filters: dict[str, Any] = {
            "project": project,
            "actor": actor,
            "action": action,
            "object_type": object_type,
            "object_id": object_id,
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
            "from_seq": from_seq,
            "to_seq": to_seq,
            "order": "desc" if newest_first else "asc",
        }
        params = {k: v for k, v in filters.items() if v is not None} | _page(max_results, page_token)
        body = self._json("GET", "/api/v1/audit/entries", AuditEntryList, params=params)
        return Page(items=body.entries, next_page_token=body.next_page_token)

    def iter_audit_entries(self, **filters: Any) -> Iterator[AuditEntryOut]:
        """Every matching entry, oldest first, in pages of :data:`STREAM_PAGE`."""
        return _all_pages(
            lambda page_token: self.list_audit_entries(**filters, max_results=STREAM_PAGE, page_token=page_token)
        )

    def audit_head(self) -> HeadOut:
        return self._json("GET", "/api/v1/audit/head", HeadOut)

    def audit_public_keys(self) -> PublicKeys:
        return self._json("GET", "/api/v1/audit/public-key", PublicKeys)

    def list_audit_checkpoints(
        self, *, max_results: int | None = None, page_token: str | None = None
    ) -> Page[CheckpointOut]:
        body = self._json("GET", "/api/v1/audit/checkpoints", CheckpointList, params=_page(max_results, page_token))
        return Page(items=body.checkpoints, next_page_token=body.next_page_token)

    def iter_audit_checkpoints(self) -> Iterator[CheckpointOut]:
        return _all_pages(
            lambda page_token: self.list_audit_checkpoints(max_results=STREAM_PAGE, page_token=page_token)
        )

    # -- acting ----------------------------------------------------------------------
    def create_audit_checkpoint(self) -> CheckpointIssued:
        """Sign the current head now (``created`` is False if it already was)."""
        return self._json("POST", "/api/v1/audit/checkpoints", CheckpointIssued)

    def verify_audit_on_server(self) -> VerifyReport:
        """The server's own verification (fast; trusts the server)."""
        return self._json("GET", "/api/v1/audit/verify", VerifyReport)

    def verify_audit(
        self,
        *,
        public_keys: Iterable[Ed25519PublicKey] | None = None,
        extra_checkpoints: Iterable[CheckpointOut] = (),
        extra_keys: Iterable[Ed25519PublicKey] = (),
        progress: Progress | None = None,
    ) -> VerifyReport:
        """Walk the whole chain here: fetch the head, the checkpoints and every entry up to
        the head, and verify them with ``public_keys`` (else the keys the server names,
        plus ``extra_keys``). ``extra_checkpoints``: checkpoints kept from earlier exports,
        checked too."""
        head, signed = self._snapshot()
        pinned = list(public_keys or ())
        keyring = KeyRing(pinned) if pinned else self._server_keyring(extra_keys)
        unique = {cp.signature: cp for cp in itertools.chain(signed, extra_checkpoints)}
        verifier = Verifier(
            keyring,
            unique.values(),
            interval=head.checkpoint_interval,
            head=Head(seq=head.seq, hash=head.hash, checkpoint_seq=head.checkpoint_seq),
        )
        if not pinned:
            verifier.notes.append("signatures checked with the public keys the server names: pin one with --public-key")
        entries = self.iter_audit_entries(to_seq=head.seq) if head.seq else iter(())
        return run(verifier, entries, progress)

    def _snapshot(self) -> tuple[HeadOut, list[CheckpointOut]]:
        """The head, and every checkpoint signed up to it, without a snapshot on the server:
        checkpoints listed before reading the head are all kept (one beyond the head means
        entries were cut off); those listed after it only up to the head (later ones
        belong to entries appended meanwhile, which this walk does not read)."""
        before = list(self.iter_audit_checkpoints())
        head = self.audit_head()
        after = [cp for cp in self.iter_audit_checkpoints() if cp.tree_size <= head.seq]
        return head, list({cp.signature: cp for cp in [*before, *after]}.values())

    def _server_keyring(self, extra: Iterable[Ed25519PublicKey]) -> KeyRing:
        keys = self.audit_public_keys().keys
        return KeyRing([*(parse_public_key(k.public_key_pem, f"public key {k.key_id}") for k in keys), *extra])

    # -- export ----------------------------------------------------------------------
    def audit_seq_range(self, since: int | datetime | None, until: int | datetime | None, head: int) -> tuple[int, int]:
        """The contiguous seq range an export covers: from the first entry recorded at or
        after ``since`` (a time) or seq ``since``, to the last entry recorded at or before
        ``until`` or seq ``until``, never past ``head``. Times are when entries were
        recorded, which is not strictly in seq order, so the range is by seq."""
        if isinstance(since, datetime):
            found = self.list_audit_entries(since=since, max_results=1).items
            first = found[0].seq if found else head + 1
        else:
            first = max(since or 1, 1)
        if isinstance(until, datetime):
            found = self.list_audit_entries(until=until, newest_first=True, max_results=1).items
            last = found[0].seq if found else 0
        else:
            last = head if until is None else min(until, head)
        return first, last

    def export_audit(
        self,
        out: TextIO,
        *,
        since: int | datetime | None = None,
        until: int | datetime | None = None,
        progress: Progress | None = None,
    ) -> export.ExportEnd:
        """Write the entries from ``since`` to ``until`` (see :meth:`audit_seq_range`), the
        checkpoints that cover them and the public keys, as one export file."""
        head, signed = self._snapshot()
        first, last = self.audit_seq_range(since, until, head.seq)
        entries: Iterator[AuditEntryOut] = (
            self.iter_audit_entries(from_seq=first, to_seq=last) if first <= last else iter(())
        )
        peek = next(entries, None)
        header = export.ExportHeader(
            exported_at=datetime.now(UTC),
            first_seq=first,
            last_seq=last if peek else first - 1,
            anchor=peek.prev_hash if peek else GENESIS,
            head_seq=head.seq,
            head_hash=head.hash,
            checkpoint_interval=head.checkpoint_interval,
            public_keys=self.audit_public_keys().keys,
        )
        # Those in range; and, exporting up to the head, any beyond it (the chain was cut).
        to_head = last == head.seq
        covering = [cp for cp in signed if first <= cp.tree_size and (cp.tree_size <= last or to_head)]
        return export.write_export(out, header, covering, itertools.chain([peek] if peek else [], entries), progress)
