"""The in-process transport behind local mode: streams both ways in bounded memory and
reports a mid-body failure as a dropped connection, like a socket would."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from shipyard.client import Client
from shipyard.client.transport import InProcessTransport

MB = 1024 * 1024


def write_random(path: Path, size: int) -> str:
    h = hashlib.sha256()
    with path.open("wb") as fh:
        left = size
        while left:
            chunk = os.urandom(min(MB, left))
            h.update(chunk)
            fh.write(chunk)
            left -= len(chunk)
    return h.hexdigest()


def test_local_mode_streams_in_bounded_memory(client: Client, tmp_path: Path) -> None:
    size = 48 * MB
    src = tmp_path / "big.bin"
    digest = write_random(src, size)
    tracemalloc.start()
    try:
        info = client.upload_blob(src)
        _, upload_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        out = client.download_blob(digest, tmp_path / "big.out")
        _, download_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.digest == digest
    assert info.size == size
    assert hashlib.sha256(out.read_bytes()).hexdigest() == digest
    # Python-level allocations stay at a few chunk buffers, far below the blob's size.
    assert upload_peak < 24 * MB, upload_peak
    assert download_peak < 24 * MB, download_peak


def _streaming_app(fail_after: int | None) -> FastAPI:
    app = FastAPI()

    @app.get("/stream")
    def stream() -> StreamingResponse:
        def body() -> Iterator[bytes]:
            for i in range(50):
                if fail_after is not None and i == fail_after:
                    raise RuntimeError("disk vanished mid-stream")
                yield b"x" * 65536

        return StreamingResponse(body())

    @app.post("/echo-size")
    async def echo_size(request: Request) -> dict[str, int]:
        total = 0
        async for chunk in request.stream():
            total += len(chunk)
        return {"size": total}

    return app


def test_failure_after_status_line_is_a_dropped_connection() -> None:
    transport = InProcessTransport(_streaming_app(fail_after=3))
    with httpx.Client(transport=transport, base_url="http://t") as c, c.stream("GET", "/stream") as response:
        assert response.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError, match="disk vanished"):
            for _ in response.iter_bytes():
                pass


def test_closing_a_response_early_does_not_hang() -> None:
    transport = InProcessTransport(_streaming_app(fail_after=None))
    with httpx.Client(transport=transport, base_url="http://t") as c:
        for _ in range(5):  # would deadlock on a full queue if cancellation leaked
            with c.stream("GET", "/stream") as response:
                next(response.iter_bytes())
        assert len(c.get("/stream").content) == 50 * 65536


def test_request_body_is_streamed_from_a_generator() -> None:
    transport = InProcessTransport(_streaming_app(fail_after=None))

    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"y" * 100_000

    with httpx.Client(transport=transport, base_url="http://t") as c:
        assert c.post("/echo-size", content=chunks()).json() == {"size": 2_000_000}
