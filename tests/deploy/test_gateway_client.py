"""The gateway's upstream client against real loopback servers that misbehave on purpose."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest
import uvloop

from shipyard.deploy import upstream
from shipyard.deploy.upstream import ConnectFailed, ProtocolFailed, TimedOut, Upstream, UpstreamError

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]
OK = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"


class Server:
    """A raw HTTP server on loopback: ``handler(reader, writer, connection_number)`` per
    connection; entered, its URL and a client (``Upstream(**options)``), closed on exit."""

    def __init__(self, handler: Handler, **options: Any) -> None:
        self.handler = handler
        self.client = Upstream(**options)
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> tuple[str, Upstream]:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}", self.client

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        await self.client.aclose()
        self.server.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer, self.connections)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> bytes | None:
        """One request (head and body), or None at EOF."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        request = head + (await reader.readexactly(length) if length else b"")
        self.requests.append(request)
        return request


Run = Callable[[Coroutine[Any, Any, None]], None]


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Run:
    """Run a test's coroutine on asyncio's loop and on uvloop's (what the gateway runs on)."""
    factory = uvloop.new_event_loop if request.param == "uvloop" else asyncio.new_event_loop

    def runner(coro: Coroutine[Any, Any, None]) -> None:
        with asyncio.Runner(loop_factory=factory) as loop_runner:
            loop_runner.run(asyncio.wait_for(coro, 30))

    return runner


def test_a_connection_is_kept_alive_and_reused(run: Run) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while await server.read_request(reader) is not None:
            writer.write(OK)

    server = Server(handler)

    async def main() -> None:
        async with server as (url, client):
            for _ in range(5):
                response = await client.request("POST", url, "/v2/models/a/infer", [(b"x-a", b"1")], b'{"q":1}')
                assert (response.status, response.body) == (200, b"{}")
                assert (b"content-type", b"application/json") in response.headers
            assert (await client.request("GET", f"{url}/base/", "/x?y=1", [], b"")).status == 200

    run(main())
    assert server.connections == 2  # a base URL with a path is another origin
    assert server.requests[-1].startswith(b"GET /base/x?y=1 HTTP/1.1\r\n")
    first = server.requests[0]
    assert first.startswith(b"POST /v2/models/a/infer HTTP/1.1\r\n")
    assert b"\r\nx-a: 1\r\n" in first
    assert b"\r\ncontent-length: 7\r\n" in first
    assert first.endswith(b'{"q":1}')
    assert b"\r\nhost: 127.0.0.1:" in first


def test_an_idle_connection_the_server_closed_is_not_used(run: Run) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.read_request(reader)
        writer.write(OK)
        await writer.drain()  # then close: an idle keep-alive connection timed out

    server = Server(handler)

    async def main() -> None:
        async with server as (url, client):
            for _ in range(3):
                assert (await client.request("GET", url, "/", [], b"")).status == 200
                await asyncio.sleep(0.05)  # the loop sees the EOF before the next call

    run(main())
    assert (server.connections, len(server.requests)) == (3, 3)


def test_the_keep_alive_race_is_retried_once_on_a_fresh_connection(run: Run) -> None:
    """The server takes the second request on the reused connection and closes it unanswered."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.read_request(reader)
        if n == 1:
            writer.write(OK)
            await server.read_request(reader)  # the second request: dropped, connection closed
            return
        writer.write(OK)

    server = Server(handler)

    async def main() -> None:
        async with server as (url, client):
            assert (await client.request("POST", url, "/", [], b"1")).status == 200
            assert (await client.request("POST", url, "/", [], b"2")).status == 200

    run(main())
    assert server.connections == 2
    assert [r[-1:] for r in server.requests] == [b"1", b"2", b"2"]


@pytest.mark.parametrize("reply", [b"", b"SMTP ready\r\n\r\n"], ids=["closed unanswered", "malformed"])
def test_a_fresh_connection_closed_unanswered_or_malformed_is_not_retried(run: Run, reply: bytes) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.read_request(reader)
        writer.write(reply)

    server = Server(handler)

    async def main() -> None:
        async with server as (url, client):
            with pytest.raises(UpstreamError) as caught:
                await client.request("POST", url, "/", [], b"x")
            assert isinstance(caught.value, ProtocolFailed)
            assert caught.value.reason == "protocol"

    run(main())
    assert len(server.requests) == 1


async def odd_answers(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Chunked (``/chunked``), after a 100 Continue (``/continue``), HEAD, cut off (``/cut``),
    else read until the server closes."""
    while (request := await server.read_request(reader)) is not None:
        if request.startswith(b"GET /chunked"):
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            for part in (b'{"outputs":', b" [1, 2", b"]}"):
                writer.write(b"%x\r\n%s\r\n" % (len(part), part))
                await writer.drain()
                await asyncio.sleep(0.01)
            writer.write(b"0\r\n\r\n")
        elif request.startswith(b"GET /continue"):
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" + OK)
        elif request.startswith(b"HEAD"):
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n")
        elif request.startswith(b"GET /cut"):
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n{}")
            return
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end")
            return


def odd_server() -> Server:
    server = Server(lambda reader, writer, n: odd_answers(server, reader, writer))
    return server


def test_an_answer_cut_off_halfway_is_a_protocol_error_not_retried(run: Run) -> None:
    server = odd_server()

    async def main() -> None:
        async with server as (url, client):
            await client.request("GET", url, "/continue", [], b"")
            with pytest.raises(ProtocolFailed):
                await client.request("GET", url, "/cut", [], b"")

    run(main())
    assert len(server.requests) == 2


def test_chunked_and_read_until_close_answers(run: Run) -> None:
    server = odd_server()

    async def main() -> None:
        async with server as (url, client):
            chunked = await client.request("GET", url, "/chunked", [], b"")
            assert chunked.body == b'{"outputs": [1, 2]}'
            assert (b"transfer-encoding", b"chunked") in chunked.headers
            assert (await client.request("GET", url, "/continue", [], b"")).body == b"{}"
            assert server.connections == 1  # both kept the connection
            head = await client.request("HEAD", url, "/", [], b"")
            assert (head.status, head.body) == (200, b"")
            eof = await client.request("GET", url, "/eof", [], b"")
            assert eof.body == b"until the end"

    run(main())
    assert server.connections == 2  # a HEAD answer's connection is not reused


def test_a_slow_server_times_out_and_its_connection_is_dropped(run: Run) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        request = await server.read_request(reader)
        if request is not None and b"/slow" in request:
            await asyncio.sleep(5)
        writer.write(OK)
        while await server.read_request(reader) is not None:
            writer.write(OK)

    server = Server(handler, timeout_s=0.2)

    async def main() -> None:
        async with server as (url, client):
            started = time.monotonic()
            with pytest.raises(TimedOut) as caught:
                await client.request("POST", url, "/slow", [], b"x")
            assert caught.value.reason == "timeout"
            assert time.monotonic() - started < 2
            assert (await client.request("POST", url, "/fast", [], b"x")).status == 200

    run(main())
    assert server.connections == 2


def test_connection_refused_is_a_connect_error(run: Run) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there

    async def main() -> None:
        client = Upstream()
        for _ in range(3):  # the slot is given back each time
            with pytest.raises(ConnectFailed) as caught:
                await client.request("POST", f"http://127.0.0.1:{port}", "/", [], b"x")
            assert caught.value.reason == "connect"
        await client.aclose()

    run(main())


def test_at_most_max_connections_are_open_and_callers_wait_for_one(run: Run) -> None:
    busy = 0
    peak = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        nonlocal busy, peak
        while await server.read_request(reader) is not None:
            busy += 1
            peak = max(peak, busy)
            await asyncio.sleep(0.02)
            busy -= 1
            writer.write(OK)

    server = Server(handler, max_connections=2)

    async def main() -> None:
        async with server as (url, client):
            answers = await asyncio.gather(*(client.request("POST", url, "/", [], b"x") for _ in range(10)))
            assert [a.status for a in answers] == [200] * 10

    run(main())
    assert server.connections == 2
    assert peak == 2


def test_waiting_for_a_connection_counts_against_the_timeout(run: Run) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.read_request(reader)
        await asyncio.sleep(0.5)
        writer.write(OK)

    server = Server(handler, max_connections=1, timeout_s=2.0)

    async def main() -> None:
        async with server as (url, client):
            first = asyncio.ensure_future(client.request("POST", url, "/", [], b"x"))
            await asyncio.sleep(0.05)
            with pytest.raises(TimedOut):
                await client.request("POST", url, "/", [], b"x", timeout_s=0.1)
            assert (await first).status == 200
            assert (await client.request("POST", url, "/", [], b"x")).status == 200  # the slot was not lost

    run(main())


def test_without_httptools_calls_go_through_httpx(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upstream, "HAVE_HTTPTOOLS", False)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        request = await server.read_request(reader)
        if request is not None and b"/slow" not in request:
            writer.write(OK)
        await asyncio.sleep(1)

    server = Server(handler, timeout_s=0.3)

    async def main() -> None:
        async with server as (url, client):
            answer = await client.request("POST", f"{url}/base", "/", [(b"x-a", b"1")], b"x")
            assert (answer.status, answer.body) == (200, b"{}")
            with pytest.raises(TimedOut):
                await client.request("POST", url, "/slow", [], b"x")
            with pytest.raises(ConnectFailed):
                await client.request("POST", "http://127.0.0.1:9", "/", [], b"x")

    run(main())
    assert server.requests[0].startswith(b"POST /base/ HTTP/1.1\r\n")
    assert b"\r\nx-a: 1\r\n" in server.requests[0]
