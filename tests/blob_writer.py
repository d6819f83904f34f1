"""A slow blob writer, run as a separate process by the atomicity tests (which kill it).

    python tests/blob_writer.py store '<settings overrides as JSON>' SIZE CHUNK DELAY_S
    python tests/blob_writer.py http  http://127.0.0.1:PORT          SIZE CHUNK DELAY_S

``store`` writes straight into the blob store through ``BlobStore.stage()`` and
``StagedBlob.commit``; ``http`` PUTs the same bytes to a running server as one streamed
request body. Either way the content is :func:`pattern_chunks` (deterministic, so the
test knows its digest without being sent it), ``CHUNK`` bytes at a time with a pause of
``DELAY_S`` after each, and the last line printed is a JSON result.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
import time
from collections.abc import Iterator

SEED = 20240611


def pattern_chunks(size: int, chunk: int, seed: int = SEED) -> Iterator[bytes]:
    """``size`` pseudo-random bytes in pieces of ``chunk``; the same arguments give the same bytes."""
    rng = random.Random(seed)
    left = size
    while left > 0:
        n = min(chunk, left)
        yield rng.randbytes(n)
        left -= n


def pattern_digest(size: int, chunk: int, seed: int = SEED) -> str:
    h = hashlib.sha256()
    for piece in pattern_chunks(size, chunk, seed):
        h.update(piece)
    return h.hexdigest()


def _slowly(size: int, chunk: int, delay_s: float) -> Iterator[bytes]:
    for piece in pattern_chunks(size, chunk):
        yield piece
        if delay_s:
            time.sleep(delay_s)


def write_to_store(overrides: dict[str, object], size: int, chunk: int, delay_s: float) -> dict[str, object]:
    from shipyard.artifacts.backends import open_blob_store
    from shipyard.settings import load_settings

    settings = load_settings(overrides).settings
    store = open_blob_store(settings.artifacts_url, settings.artifacts, settings.home)
    expected = pattern_digest(size, chunk)
    with store.stage() as staged:
        print(json.dumps({"staging": str(staged.path)}), flush=True)
        for piece in _slowly(size, chunk, delay_s):
            staged.write(piece)
        digest = staged.commit(expected)
    return {"digest": digest, "size": size}


def upload_over_http(url: str, size: int, chunk: int, delay_s: float) -> dict[str, object]:
    import httpx

    digest = pattern_digest(size, chunk)
    with httpx.Client(base_url=url, timeout=60.0) as http:
        response = http.put(f"/api/v1/projects/default/blobs/{digest}", content=_slowly(size, chunk, delay_s))
    return {"status": response.status_code, "body": response.json()}


def main(argv: list[str]) -> int:
    mode, target, size, chunk, delay_s = argv
    if mode == "store":
        result = write_to_store(json.loads(target), int(size), int(chunk), float(delay_s))
    elif mode == "http":
        result = upload_over_http(target, int(size), int(chunk), float(delay_s))
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
