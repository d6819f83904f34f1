"""An httpx transport that serves requests from an ASGI app in this process.

Local mode: ``shipyard.Client()`` with no server URL sends every request through this
transport to the very app ``shipyard server`` would run, so local mode and server mode
share one implementation of every rule (validation, errors, paging, digests). Unlike
Starlette's test client it streams both ways with bounded buffers, so a multi-gigabyte
blob moves through it in constant memory.

The app runs on an asyncio event loop in a background daemon thread.
Responses are handed over through a bounded queue: the app blocks when the caller reads
slowly, and the caller sees a dropped connection (``httpx.RemoteProtocolError``) if the
app fails after the status line was sent, exactly as over a real socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import anyio
import httpx
from starlette.types import ASGIApp, Message

_DONE = object()
MAX_BUFFERED_CHUNKS = 8


class _Cancelled(Exception):
    """The caller closed the response before reading it all."""


class _Exchange:
    """One request/response, straddling the caller's thread and the app's event loop."""

    def __init__(self, request: httpx.Request) -> None:
        self.request = request
        self.messages: queue.Queue[Any] = queue.Queue(maxsize=MAX_BUFFERED_CHUNKS)
        self.cancelled = threading.Event()
        stream = request.stream
        assert isinstance(stream, httpx.SyncByteStream), "the in-process transport is synchronous"
        self.body: Iterator[bytes] = iter(stream)
        self.body_done = False
        self.finished: anyio.Event | None = None

    def _put(self, item: Any) -> None:
        while True:
            try:
                self.messages.put(item, timeout=0.05)
                return
            except queue.Full:
                if self.cancelled.is_set():
                    raise _Cancelled from None

    async def receive(self) -> Message:
        if not self.body_done:
            chunk = await anyio.to_thread.run_sync(next, self.body, None)
            if chunk is not None:
                return {"type": "http.request", "body": bytes(chunk), "more_body": True}
            self.body_done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        assert self.finished is not None
        await self.finished.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if self.cancelled.is_set():
            raise _Cancelled
        await anyio.to_thread.run_sync(self._put, message)

    async def run(self, app: ASGIApp, scope: dict[str, Any]) -> None:
        self.finished = anyio.Event()
        try:
            await app(scope, self.receive, self.send)
        except _Cancelled:
            return
        except Exception as exc:  # after the status line: surface as a dropped connection
            await anyio.to_thread.run_sync(self._put_quietly, exc)
        finally:
            self.finished.set()
            await anyio.to_thread.run_sync(self._put_quietly, _DONE)

    def _put_quietly(self, item: Any) -> None:
        with contextlib.suppress(_Cancelled):
            self._put(item)


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, exchange: _Exchange) -> None:
        self.exchange = exchange
        self.complete = False

    def __iter__(self) -> Iterator[bytes]:
        while not self.complete:
            item = self.exchange.messages.get()
            if item is _DONE:
                raise httpx.RemoteProtocolError(
                    "in-process server ended the response early", request=self.exchange.request
                )
            if isinstance(item, Exception):
                raise httpx.RemoteProtocolError(
                    f"in-process server aborted the response: {item}", request=self.exchange.request
                ) from item
            if item.get("type") == "http.response.body":
                chunk = item.get("body", b"")
                if not item.get("more_body", False):
                    self.complete = True
                if chunk:
                    yield chunk

    def close(self) -> None:
        self.exchange.cancelled.set()
        # Unblock an app waiting on a full queue.
        while True:
            try:
                self.exchange.messages.get_nowait()
            except queue.Empty:
                break


class InProcessTransport(httpx.BaseTransport):
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # A daemon thread: a client the caller forgot to close must not keep the
        # interpreter from exiting.
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="shipyard-local", daemon=True)
        self._thread.start()
        self._closed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        exchange = _Exchange(request)
        url = request.url
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": url.scheme,
            "path": unquote(url.path),
            "raw_path": url.raw_path.split(b"?", 1)[0],
            "query_string": url.query,
            "root_path": "",
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "client": ("127.0.0.1", 0),
            "server": (url.host, url.port or 80),
            "state": {},
        }
        asyncio.run_coroutine_threadsafe(exchange.run(self.app, scope), self._loop)
        while True:
            item = exchange.messages.get()
            if item is _DONE:
                raise httpx.RemoteProtocolError("in-process server sent no response", request=request)
            if isinstance(item, Exception):
                raise httpx.RemoteProtocolError(f"in-process server failed: {item}", request=request) from item
            if item["type"] == "http.response.start":
                break
        return httpx.Response(
            status_code=item["status"],
            headers=[(k, v) for k, v in item.get("headers", [])],
            stream=_ResponseStream(exchange),
            request=request,
        )

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            if not self._thread.is_alive():
                self._loop.close()
