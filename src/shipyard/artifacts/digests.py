"""sha256 digests: the name of every blob."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from shipyard.errors import DigestMismatch, InvalidArgument

_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def check_digest(value: str, field: str = "digest") -> str:
    """Accept ``<hex>`` or ``sha256:<hex>``; return the bare lowercase hex."""
    bare = value.removeprefix("sha256:").lower()
    if not _DIGEST.match(bare):
        raise InvalidArgument(
            f"{field} must be 64 hex characters of a sha256 digest, got '{value[:80]}'", {"field": field}
        )
    return bare


def file_digest(path: Path, chunk_size: int = 1024 * 1024) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(chunk_size):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def verified(chunks: Iterable[bytes], expected: str) -> Iterator[bytes]:
    """Yield ``chunks`` unchanged; raise instead of yielding the last one if they do not
    hash to ``expected``.

    The caller has already passed the earlier bytes on, so a streaming consumer must treat
    the exception as "discard what you received" (the server aborts the response; the SDK
    deletes its partial file). Holding the last chunk back until the hash is known means
    a response sent with the blob's ``Content-Length`` is visibly cut short: no client,
    with or without its own check, receives a complete body of corrupt bytes."""
    h = hashlib.sha256()
    held: bytes | None = None
    for chunk in chunks:
        if not chunk:
            continue
        if held is not None:
            yield held
        h.update(chunk)
        held = chunk
    actual = h.hexdigest()
    if actual != expected:
        raise DigestMismatch(expected, actual)
    if held is not None:
        yield held
