"""The gateway's client to its model servers: pooled HTTP/1.1 keep-alive over asyncio.

The gateway sends one small request and reads one small answer per call, always to a
handful of origins on a trusted network, so it needs far less than a general client: this
one writes the request in one ``transport.write`` (always with ``Content-Length`` when
there is a body), parses the answer with ``httptools`` (``Content-Length``, chunked, or
read-until-close bodies; 1xx interim answers skipped; a HEAD answer ends at its headers)
and keeps the connection for the next call when both sides allow it. It costs a fraction
of what ``httpx`` does per call; ``https`` origins are still sent through ``httpx``, and so
is everything when ``httptools`` (the ``serving`` extra) is not installed.

Connections are pooled per origin (``scheme://host:port``), at most ``max_connections``
open to each; a caller beyond that waits for one to come free, within its timeout. Idle
connections are reused last-in first-out; one the server has closed meanwhile is noticed
(the event loop has seen its EOF) and dropped before anything is written to it.

**Retry rule.** A request is sent again, once, on a fresh connection only when the
connection it went out on had been *reused* from the pool and failed (closed, reset)
*before any byte of the answer arrived*: the keep-alive race, where a server closes an
idle connection just as a request is written to it (and so never reads it). A fresh
connection that fails, an answer cut off halfway, and a timeout are never retried: a POST
is sent a second time only when the first copy went out on a connection the server was
closing and got no answer at all.

Errors are :class:`UpstreamError` with a ``reason``: ``connect`` (could not connect),
``timeout`` (no full answer within the timeout, including waiting for a free connection)
or ``protocol`` (closed without an answer, a malformed or cut-off answer).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

try:
    import httptools

    HAVE_HTTPTOOLS = True
except ImportError:  # without the ``serving`` extra every call goes through httpx
    HAVE_HTTPTOOLS = False

if TYPE_CHECKING:
    import httpx

Headers = Sequence[tuple[bytes, bytes]]


class UpstreamError(Exception):
    """A model server did not answer; ``reason`` is ``connect``, ``timeout`` or ``protocol``."""

    reason = "protocol"


class ConnectFailed(UpstreamError):
    reason = "connect"


class TimedOut(UpstreamError):
    reason = "timeout"


class ProtocolFailed(UpstreamError):
    reason = "protocol"


class _NoAnswer(Exception):
    """The connection ended before any byte of the answer (the request may be retried)."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: list[tuple[bytes, bytes]]  # names in lower case, in the order received
    body: bytes


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: one exchange at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.reusable = True
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[Response] | None = None
        self._head = False
        self._received = False
        self._until_eof = False
        self._status = 0
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []

    # -- asyncio.Protocol --------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():  # bytes nobody asked for: the connection is not usable
            self.close()
            return
        self._received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ProtocolFailed(f"malformed answer: {exc}"))
            self.close()

    def eof_received(self) -> bool:
        self._ended()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._ended()

    # -- httptools callbacks ---------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        status = self._status = self._parser.get_status_code()
        if 100 <= status < 200:
            return
        if self._head:  # no body follows, whatever the headers say; the parser cannot be told
            self.reusable = False
            self._finish()
            return
        if status not in (204, 304) and not any(
            k in (b"content-length", b"transfer-encoding") for k, _ in self._headers
        ):
            self._until_eof = True  # the body ends when the server closes the connection
            self.reusable = False

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if 100 <= self._status < 200:  # an interim answer (100 Continue): the real one follows
            self._headers = []
            self._body = []
            return
        if not self._parser.should_keep_alive():
            self.reusable = False
        self._finish()

    # -- use -------------------------------------------------------------------------------
    async def exchange(self, data: bytes, head: bool) -> Response:
        """Write one request and wait for its answer."""
        assert self.transport is not None
        self._head = head
        self._received = self._until_eof = False
        self._status = 0
        self._headers = []
        self._body = []
        waiter: asyncio.Future[Response] = self._loop.create_future()
        self._waiter = waiter
        self.transport.write(data)
        try:
            return await waiter
        finally:
            self._waiter = None

    def close(self) -> None:
        self.closed = True
        self.reusable = False
        if self.transport is not None:
            self.transport.abort()

    def _finish(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
            waiter.set_result(Response(self._status, self._headers, body))

    def _fail(self, exc: BaseException) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def _ended(self) -> None:
        self.closed = True
        self.reusable = False
        if self._until_eof:
            self._finish()
        elif not self._received:
            self._fail(_NoAnswer())
        else:
            self._fail(ProtocolFailed("the connection closed before the answer was complete"))


class _Pool:
    """The connections to one origin."""

    def __init__(self, host: str, port: int, limit: int) -> None:
        self.host = host
        self.port = port
        self.limit = max(1, limit)
        self.open = 0
        self.idle: deque[_Connection] = deque()
        self.waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self, loop: asyncio.AbstractEventLoop, *, fresh: bool = False) -> tuple[_Connection, bool]:
        """A connection and whether it was reused (idle in the pool); ``fresh``: a new one."""
        while True:
            while self.idle and not fresh:
                conn = self.idle.pop()
                if not conn.closed:
                    return conn, True
                self.open -= 1
            if self.open < self.limit:
                self.open += 1
                return await self.connect(loop), False
            waiter = loop.create_future()
            self.waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # woken and cancelled at once: pass the turn on
                raise

    async def connect(self, loop: asyncio.AbstractEventLoop) -> _Connection:
        """A new connection in a slot already counted in ``open`` (given back on failure)."""
        try:
            _, conn = await loop.create_connection(lambda: _Connection(loop), self.host, self.port)
        except OSError as exc:
            self.discard(None)
            raise ConnectFailed(f"cannot connect to {self.host}:{self.port}: {exc.strerror or exc}") from None
        except BaseException:
            self.discard(None)
            raise
        return conn

    def release(self, conn: _Connection) -> None:
        if conn.reusable and not conn.closed:
            self.idle.append(conn)
            self._wake()
        else:
            self.discard(conn)

    def discard(self, conn: _Connection | None) -> None:
        if conn is not None:
            conn.close()
        self.open -= 1
        self._wake()

    def _wake(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def close(self) -> None:
        while self.idle:
            self.idle.pop().close()


@dataclass(frozen=True, slots=True)
class _Origin:
    scheme: str
    host: str
    port: int
    host_header: bytes
    prefix: str  # the URL's path, if any, put before every target


def _origin(url: str) -> _Origin:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProtocolFailed(f"not an http(s) URL: {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host_header = parts.netloc.rsplit("@", 1)[-1].encode("latin-1")
    return _Origin(parts.scheme, parts.hostname, port, host_header, parts.path.rstrip("/"))


class Upstream:
    """Pooled keep-alive HTTP/1.1 calls to model servers (see the module docstring).

    Bound to the event loop of its first call; used from another loop (a restarted server)
    it forgets the connections of the old one."""

    def __init__(self, *, max_connections: int = 256, timeout_s: float = 60.0) -> None:
        self.max_connections = max_connections
        self.timeout_s = timeout_s
        self._origins: dict[str, _Origin] = {}
        self._pools: dict[str, _Pool] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._httpx: httpx.AsyncClient | None = None

    async def request(
        self, method: str, origin: str, target: str, headers: Headers, body: bytes, *, timeout_s: float | None = None
    ) -> Response:
        """``method`` ``origin + target`` (``origin``: a base URL, ``target``: path and query) with ``headers``
        (no ``Host``, ``Content-Length`` or connection headers: this client sets those)."""
        where = self._origins.get(origin)
        if where is None:
            where = self._origins[origin] = _origin(origin)
        timeout = self.timeout_s if timeout_s is None else timeout_s
        if where.prefix:
            target = where.prefix + target
        if where.scheme != "http" or not HAVE_HTTPTOOLS:
            url = f"{where.scheme}://{where.host_header.decode('latin-1')}{target}"
            return await self._via_httpx(method, url, headers, body, timeout)
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._pools = loop, {}
        pool = self._pools.get(origin)
        if pool is None:
            pool = self._pools[origin] = _Pool(where.host, where.port, self.max_connections)
        data = _serialize(method, target, where.host_header, headers, body)
        head = method == "HEAD"
        try:
            async with asyncio.timeout(timeout):
                conn, reused = await pool.acquire(loop)
                while True:
                    try:
                        response = await conn.exchange(data, head)
                    except _NoAnswer:
                        pool.discard(conn)
                        if not reused:
                            raise ProtocolFailed("the server closed the connection without answering") from None
                        # the keep-alive race: once more, on a fresh connection (see the retry rule)
                        conn, reused = await pool.acquire(loop, fresh=True)
                        continue
                    except BaseException:
                        pool.discard(conn)
                        raise
                    pool.release(conn)
                    return response
        except TimeoutError:
            raise TimedOut(f"no answer from {origin} within {timeout:g} s") from None

    async def _via_httpx(self, method: str, url: str, headers: Headers, body: bytes, timeout: float) -> Response:
        import httpx

        if self._httpx is None:
            limits = httpx.Limits(max_connections=self.max_connections, max_keepalive_connections=self.max_connections)
            self._httpx = httpx.AsyncClient(timeout=self.timeout_s, limits=limits)
        try:
            answer = await self._httpx.request(method, url, content=body, headers=list(headers), timeout=timeout)
        except httpx.TimeoutException as exc:
            raise TimedOut(str(exc)) from None
        except httpx.ConnectError as exc:
            raise ConnectFailed(str(exc)) from None
        except httpx.HTTPError as exc:
            raise ProtocolFailed(str(exc)) from None
        raw = [(k.lower(), v) for k, v in answer.headers.raw if k.lower() not in (b"content-encoding",)]
        return Response(answer.status_code, raw, answer.content)

    async def aclose(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools = {}
        if self._httpx is not None:
            await self._httpx.aclose()
            self._httpx = None


def _serialize(method: str, target: str, host: bytes, headers: Headers, body: bytes) -> bytes:
    parts: list[Any] = [method.encode("ascii"), b" ", target.encode("latin-1"), b" HTTP/1.1\r\nhost: ", host]
    for name, value in headers:
        parts += (b"\r\n", name, b": ", value)
    if body or method in ("POST", "PUT", "PATCH"):
        parts += (b"\r\ncontent-length: ", str(len(body)).encode("ascii"))
    parts += (b"\r\n\r\n", body)
    return b"".join(parts)


__all__ = ["ConnectFailed", "ProtocolFailed", "Response", "TimedOut", "Upstream", "UpstreamError"]
