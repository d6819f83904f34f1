"""The native HTTP/1.1 front of ``shipyard serve`` (``--http native``, the default).

uvicorn still runs the process (sockets, lifespan, signals, the graceful drain, worker
mode): this module is only the per-connection protocol it is given in place of its own.
Each request goes straight to :meth:`ServingApp.respond <shipyard.serving.app.ServingApp.respond>`,
the same routing, handlers and error shapes as the ASGI app, without what ASGI costs per
request (a scope dict, message dicts, a task, two ``send`` calls). Measured on the GBM
benchmark model it is what separates 27% of the bare ASGI app from more than 45%.

What it does per connection:

* **Parsing** with httptools (llhttp, the parser of Node.js and uvicorn), header block at
  most :data:`MAX_HEADER_BYTES` (431 otherwise); an unparseable request gets 400 and the
  connection closes.
* **One request at a time**, in order. Pipelined requests wait, parsed, in a queue; reading
  pauses while one is waiting, so a client cannot queue unbounded work.
* **The handler starts as soon as the headers are in.** A request whose body is already
  complete (nearly all of them) gets it whole; otherwise the handler reads it as it comes,
  so a 404, 429 or 503 answers before a large body is read, ``Expect: 100-continue`` is
  answered when the handler first reads the body, and reading pauses while more than
  :data:`BODY_HIGH_WATER` bytes wait unread. A reply sent before its request's body ended
  is followed by reading and discarding the rest (keep-alive), except after a 413, which
  closes the connection.
* **The handler coroutine is driven by hand**: run at once, resumed by the callback of the
  future it waits for (the batcher's answer), so no task is created nor scheduled per
  request. A handler here has no current task: code on this path must not use
  ``asyncio.timeout`` (use ``loop.call_later``, as the runtime's deadline does).
* **Keep-alive** as HTTP/1.1 says (HTTP/1.0 only when asked), closed after
  ``timeout_keep_alive`` idle seconds (uvicorn's setting, 5 s). Each reply is one write:
  status line, content type and length, uvicorn's default headers (``date``, ``server``,
  ``x-shipyard-worker``), the request's reply headers, the body.
* **Flow control**: while the socket's write buffer is full, the next request waits.
* **Drain**: uvicorn's shutdown closes idle connections at once and the busy ones after
  their current reply, then waits for them (``grace_period_s``).
"""

from __future__ import annotations

import asyncio
import functools
import http
from collections import deque
from collections.abc import Coroutine
from typing import Any, cast
from urllib.parse import unquote

import httptools
from uvicorn.config import Config
from uvicorn.server import ServerState

from shipyard.errors import InternalError
from shipyard.logging import get_logger
from shipyard.serving.app import ServingApp
from shipyard.serving.http import RequestContext, Response, dumps

log = get_logger("shipyard.serving")
MAX_HEADER_BYTES = 64 * 1024  # request line and headers together
BODY_HIGH_WATER = 256 * 1024  # unread body bytes of the request being handled before reading pauses
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_STATUS_LINES = {
    status.value: b"HTTP/1.1 %d %s\r\n" % (status.value, status.phrase.encode()) for status in http.HTTPStatus
}


def _status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    return line if line is not None else b"HTTP/1.1 %d \r\n" % status


class _HeadersTooLarge(Exception):
    pass


class _Request:
    """One request on a connection, from its first byte until its reply is sent."""

    __slots__ = (
        "answered",
        "buffered",
        "chunks",
        "complete",
        "expect_continue",
        "header_bytes",
        "headers",
        "http10",
        "keep_alive",
        "method",
        "url",
        "waiter",
    )

    def __init__(self) -> None:
        self.url = b""
        self.method = ""
        self.headers: dict[bytes, bytes] = {}
        self.header_bytes = 0
        self.chunks: list[bytes] = []
        self.buffered = 0  # body bytes in ``chunks``
        self.complete = False  # the whole body has arrived
        self.keep_alive = True
        self.http10 = False
        self.expect_continue = False
        self.answered = False  # replied; the rest of its body is discarded as it arrives
        self.waiter: asyncio.Future[None] | None = None  # the handler waiting for more body


class NativeHTTP(asyncio.Protocol):
    """An HTTP/1.1 connection serving ``app``; built by uvicorn (``Config(http=...)``), see
    :func:`protocol_for`."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        app: ServingApp,
    ) -> None:
        self.config = config
        self.state = server_state
        self.app = app
        self.settings = app.settings
        self.loop = _loop or asyncio.get_event_loop()
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None  # None once the connection is lost
        self.queue: deque[_Request] = deque()  # requests with their headers in, not yet done; [0] is handled
        self.parsing: _Request | None = None
        self.coro: Coroutine[Any, Any, Response] | None = None  # the handler of queue[0], while it runs
        self.ctx: RequestContext | None = None
        self.closing = False  # close once the current reply is sent
        self.read_paused = False
        self.reading_done = False  # an upgrade request was read: nothing after it will be
        self.write_paused = False
        self.idle_timer: asyncio.TimerHandle | None = None
        self.idle_since: float | None = None  # when the connection last went idle; None while a request runs
        self._defaults: list[tuple[bytes, bytes]] | None = None  # the default headers ``_default_bytes`` holds
        self._default_bytes = b""

    # -- the connection ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not an asyncio.Transport subclass
        self.state.connections.add(self)  # type: ignore[arg-type]  # uvicorn's set takes any protocol it made
        self._went_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.state.connections.discard(self)
        if self.idle_timer is not None:
            self.idle_timer.cancel()
            self.idle_timer = None
        for request in self.queue:
            _wake(request)

    def shutdown(self) -> None:
        """uvicorn's drain: close now if no handler runs, else after its reply (requests
        pipelined behind it are not started)."""
        self.closing = True
        if self.coro is None and self.transport is not None:
            self.transport.close()

    def pause_writing(self) -> None:
        self.write_paused = True
        self._flow()

    def resume_writing(self) -> None:
        self.write_paused = False
        self._flow()
        self._advance()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # An upgrade (WebSocket, h2c) this server does not speak: the request is answered as
            # plain HTTP/1.1, and the connection closes after it (what follows is not HTTP/1.1).
            if self.parsing is not None:
                self.parsing.complete = True
                self.parsing = None
            if self.queue:
                self.queue[-1].keep_alive = False
            if self.transport is not None:
                self.transport.pause_reading()  # for good: nothing after it is parsed
                self.read_paused = True
                self.reading_done = True
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _HeadersTooLarge):  # raised in a callback, wrapped by the parser
                self._reject(431, f"the request line and headers exceed {MAX_HEADER_BYTES} bytes")
            else:
                self._reject(400, f"invalid HTTP request: {exc}")
            return
        self._advance()
        self._flow()

    # -- the parser's callbacks ----------------------------------------------------------------
    def on_message_begin(self) -> None:
        self.parsing = _Request()

    def on_url(self, url: bytes) -> None:
        request = self.parsing
        assert request is not None
        request.url += url
        request.header_bytes += len(url)
        if request.header_bytes > MAX_HEADER_BYTES:
            raise _HeadersTooLarge

    def on_header(self, name: bytes, value: bytes) -> None:
        request = self.parsing
        assert request is not None
        request.header_bytes += len(name) + len(value) + 4
        if request.header_bytes > MAX_HEADER_BYTES:
            raise _HeadersTooLarge
        request.headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        request = self.parsing
        assert request is not None
        parser = self.parser
        request.method = parser.get_method().decode("ascii")
        request.keep_alive = parser.should_keep_alive()
        request.http10 = parser.get_http_version() == "1.0"
        expect = request.headers.get(b"expect")
        request.expect_continue = expect is not None and expect.lower() == b"100-continue"
        self.queue.append(request)

    def on_body(self, body: bytes) -> None:
        request = self.parsing
        assert request is not None
        if request.answered:
            return  # the reply went out before the body ended: what is left is read and dropped
        request.chunks.append(body)
        request.buffered += len(body)
        _wake(request)

    def on_message_complete(self) -> None:
        request = self.parsing
        assert request is not None
        request.complete = True
        self.parsing = None
        _wake(request)

    # -- requests ------------------------------------------------------------------------------
    def _advance(self) -> None:
        """Start the next request when nothing is being handled and the socket can take a reply."""
        queue = self.queue
        while queue and queue[0].answered and queue[0].complete:
            queue.popleft()  # a reply sent early, and the rest of its body now read
        if self.coro is not None or not queue or queue[0].answered or self.write_paused or self.transport is None:
            return
        if self.closing:
            self.transport.close()
            return
        self._went_busy()
        self._start(queue[0])

    def _start(self, request: _Request) -> None:
        url = request.url
        if url[:1] == b"/":
            path_bytes, _, query = url.partition(b"?")
            path_bytes = path_bytes.partition(b"#")[0]
        else:  # absolute form (through a proxy), or garbage
            try:
                parsed = httptools.parse_url(url)
            except httptools.HttpParserInvalidURLError:
                self._reject(400, "invalid request target")
                return
            path_bytes, query = parsed.path or b"/", parsed.query or b""
        path = path_bytes.decode("latin-1")
        if "%" in path:
            path = unquote(path)  # UTF-8, as uvicorn decodes it
        body = None
        if request.complete:
            body = request.chunks[0] if len(request.chunks) == 1 else b"".join(request.chunks)
            request.chunks = []
        self.ctx = RequestContext(
            request.method,
            path,
            query,
            request.headers,
            self.settings,
            receive=None if request.complete else self._receive,
            body=body,
        )
        self.coro = self.app.respond(self.ctx)
        self._step()

    def _step(self, _done: Any = None) -> None:
        """Run the handler until it waits for a future (then resumed by that future's callback)
        or returns its reply."""
        coro = self.coro
        assert coro is not None
        try:
            waiting = coro.send(None)
        except StopIteration as stop:
            self._reply(stop.value)
            return
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # a cancelled future: the client still gets an answer
            self._crashed(exc)
            return
        if waiting is None:  # a bare yield (asyncio.sleep(0)): go round the loop once
            self.loop.call_soon(self._step)
        elif getattr(waiting, "_asyncio_future_blocking", None) is not None:
            waiting._asyncio_future_blocking = False
            waiting.add_done_callback(self._step)
        else:
            coro.close()
            self._crashed(TypeError(f"a request handler awaited {type(waiting).__name__}, not an asyncio future"))

    def _crashed(self, exc: BaseException) -> None:
        ctx = self.ctx
        assert ctx is not None
        log.error("request handler failed", request_id=ctx.request_id, error_type=type(exc).__name__)
        message = f"internal error; the server log has the details under request id {ctx.request_id}"
        self._reply(self.app.error_response(ctx, InternalError(message)))

    async def _receive(self) -> dict[str, Any]:
        """The ASGI ``receive`` of the request being handled, for a body still arriving."""
        request = self.queue[0]
        while True:
            if request.chunks:
                body = b"".join(request.chunks)
                request.chunks = []
                request.buffered = 0
                self._flow()
                return {"type": "http.request", "body": body, "more_body": not request.complete}
            if request.complete:
                return {"type": "http.request", "body": b"", "more_body": False}
            if self.transport is None:
                return {"type": "http.disconnect"}
            if request.expect_continue:
                request.expect_continue = False
                self.transport.write(_CONTINUE)
            request.waiter = self.loop.create_future()
            await request.waiter

    def _reply(self, response: Response) -> None:
        ctx, request = self.ctx, self.queue[0]
        assert ctx is not None
        self.coro = self.ctx = None
        request.answered = True
        transport = self.transport
        keep_alive = False
        if transport is not None:
            self.state.total_requests += 1
            early = not request.complete  # replied before the body ended
            keep_alive = request.keep_alive and not self.closing and not (early and response.status == 413)
            transport.write(self._encode(request, ctx, response, keep_alive))
            if not keep_alive:
                transport.close()
            else:
                request.chunks = []
                request.buffered = 0
                if not early:
                    self.queue.popleft()
                self._went_idle()  # cancelled when the next request starts
        self.app.finish(ctx, response)
        if keep_alive:
            self._advance()
            self._flow()

    def _encode(self, request: _Request, ctx: RequestContext, response: Response, keep_alive: bool) -> bytes:
        body = response.body
        parts = [
            _status_line(response.status),
            b"content-type: ",
            response.content_type,
            b"\r\ncontent-length: ",
            str(len(body)).encode(),
            b"\r\n",
            self._default_headers(),
        ]
        for name, value in ctx.reply_headers():
            parts += (name, b": ", value, b"\r\n")
        for name, value in response.headers:
            parts += (name, b": ", value, b"\r\n")
        if not keep_alive:
            parts.append(b"connection: close\r\n")
        elif request.http10:
            parts.append(b"connection: keep-alive\r\n")
        parts.append(b"\r\n")
        if request.method != "HEAD":
            parts.append(body)
        return b"".join(parts)

    def _default_headers(self) -> bytes:
        """uvicorn's default headers (``date``, refreshed each second, and the configured ones) as bytes."""
        defaults = self.state.default_headers
        if defaults is not self._defaults:
            self._defaults = defaults
            self._default_bytes = b"".join(b"%s: %s\r\n" % (name, value) for name, value in defaults)
        return self._default_bytes

    def _reject(self, status: int, message: str) -> None:
        """A request that cannot be parsed: answered (unless another is being handled) and closed."""
        log.warning("bad HTTP request", status=status, error=message)
        transport = self.transport
        if transport is None:
            return
        if self.coro is not None:  # let the request being handled answer, then close
            self.closing = True
            self.queue = deque([self.queue[0]])
            transport.pause_reading()
            self.read_paused = True
            return
        body = dumps({"error": message})
        transport.write(
            b"".join(
                (
                    _status_line(status),
                    b"content-type: application/json\r\ncontent-length: ",
                    str(len(body)).encode(),
                    b"\r\n",
                    self._default_headers(),
                    b"connection: close\r\n\r\n",
                    body,
                )
            )
        )
        transport.close()

    # -- flow control and idle connections -----------------------------------------------------
    def _flow(self) -> None:
        """Read while it is useful: not while a reply cannot be written, a request waits behind
        the one being handled, or the handled one's unread body is past the high-water mark."""
        transport = self.transport
        if transport is None or self.closing or self.reading_done:
            return
        queue = self.queue
        pause = (
            self.write_paused
            or (len(queue) > 1 and queue[0].complete)
            or (bool(queue) and queue[0].buffered > BODY_HIGH_WATER)
        )
        if pause != self.read_paused:
            self.read_paused = pause
            if pause:
                transport.pause_reading()
            else:
                transport.resume_reading()

    def _went_idle(self) -> None:
        """Note that the connection went idle now. One timer per connection, re-armed only when
        it fires early: arming and cancelling a timer per request costs more than the request's
        whole HTTP parsing."""
        self.idle_since = self.loop.time()
        if self.idle_timer is None:
            self.idle_timer = self.loop.call_later(self.config.timeout_keep_alive, self._idle)

    def _went_busy(self) -> None:
        self.idle_since = None

    def _idle(self) -> None:
        self.idle_timer = None
        if self.transport is None or self.idle_since is None:
            return  # gone, or busy: armed again when it is next idle
        left = self.idle_since + self.config.timeout_keep_alive - self.loop.time()
        if left > 0:
            self.idle_timer = self.loop.call_later(left, self._idle)
        else:
            self.transport.close()


def _wake(request: _Request) -> None:
    waiter = request.waiter
    if waiter is not None:
        request.waiter = None
        if not waiter.done():
            waiter.set_result(None)


def protocol_for(app: ServingApp) -> type[asyncio.Protocol]:
    """What to give uvicorn (``Config(http=...)``) to serve ``app`` natively: uvicorn only
    calls it with its keyword arguments, so a partial stands in for a class."""
    return cast("type[asyncio.Protocol]", functools.partial(NativeHTTP, app=app))


__all__ = ["BODY_HIGH_WATER", "MAX_HEADER_BYTES", "NativeHTTP", "protocol_for"]
