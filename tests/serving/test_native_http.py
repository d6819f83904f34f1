"""The native HTTP/1.1 front (``--http native``, the default) on the wire: raw sockets for
what HTTP clients hide (keep-alive, pipelining, 100-continue, chunked and split bodies,
malformed requests, early replies, idle timeouts), and the same answers as uvicorn's front."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import httpx
import pytest

from shipyard.serving import ServingSettings
from shipyard.serving.native_http import MAX_HEADER_BYTES
from tests.serving.conftest import doubler, serving, v2_tensor

INFER = "/v2/models/doubler/infer"
BODY = json.dumps(v2_tensor([[1.5, 2.0], [3.0, 4.0]])).encode()


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    model = doubler(tmp_path_factory.mktemp("native"))
    with serving([model], ServingSettings(max_body_bytes=4096), timeout_keep_alive=1) as (base, _app):
        yield base


def connect(url: str) -> tuple[socket.socket, BinaryIO]:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    return sock, sock.makefile("rb")


def post(path: str, body: bytes, *extra: str) -> bytes:
    head = [f"POST {path} HTTP/1.1", "Host: test", "Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join([*head, *extra]) + "\r\n\r\n").encode() + body


def get(path: str, *extra: str, version: str = "1.1") -> bytes:
    return ("\r\n".join([f"GET {path} HTTP/{version}", "Host: test", *extra]) + "\r\n\r\n").encode()


def read_response(stream: BinaryIO) -> tuple[int, dict[str, str], bytes]:
    status_line = stream.readline()
    assert status_line.startswith(b"HTTP/1.1 "), status_line
    headers: dict[str, str] = {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = stream.read(int(headers["content-length"])) if "content-length" in headers else b""
    return int(status_line.split()[1]), headers, body


def closed(sock: socket.socket, stream: BinaryIO) -> bool:
    """Whether the server closed the connection (EOF within the socket's timeout)."""
    try:
        return stream.read(1) == b""
    except (ConnectionResetError, TimeoutError):
        return False


def outputs(body: bytes) -> Any:
    return json.loads(body)["outputs"][0]["data"]


def test_keep_alive_serves_several_requests_on_one_connection(url: str) -> None:
    sock, stream = connect(url)
    with sock, stream:
        for _ in range(3):
            sock.sendall(post(INFER, BODY))
            status, headers, body = read_response(stream)
            assert (status, outputs(body)) == (200, [3.0, 6.0])
            assert headers["x-shipyard-model-version"] == "doubler/1"
            assert "date" in headers
            assert "connection" not in headers


def test_pipelined_requests_are_answered_in_order(url: str) -> None:
    sock, stream = connect(url)
    with sock, stream:
        sock.sendall(post(INFER, BODY) + get("/v2/health/ready") + get("/v2/models/nope") + post(INFER, BODY))
        answers = [read_response(stream) for _ in range(4)]
    assert [status for status, _, _ in answers] == [200, 200, 404, 200]
    assert json.loads(answers[1][2]) == {"ready": True}
    assert "nope" in json.loads(answers[2][2])["error"]
    assert outputs(answers[3][2]) == [3.0, 6.0]


def test_expect_100_continue_is_answered_when_the_body_is_read(url: str) -> None:
    sock, stream = connect(url)
    with sock, stream:
        request = post(INFER, BODY, "Expect: 100-continue")
        sock.sendall(request[: -len(BODY)])
        assert stream.readline() == b"HTTP/1.1 100 Continue\r\n"
        assert stream.readline() == b"\r\n"
        sock.sendall(BODY)
        status, _, body = read_response(stream)
    assert (status, outputs(body)) == (200, [3.0, 6.0])


def test_a_refused_request_with_expect_100_continue_never_sends_its_body(url: str) -> None:
    sock, stream = connect(url)
    with sock, stream:
        sock.sendall(post("/v2/models/nope/infer", BODY, "Expect: 100-continue")[: -len(BODY)])
        status, _, body = read_response(stream)  # no 100 Continue first: the handler never read the body
        assert status == 404
        assert "nope" in json.loads(body)["error"]
        sock.sendall(BODY + post(INFER, BODY))  # the client may still send it; it is discarded
        status, _, body = read_response(stream)
    assert (status, outputs(body)) == (200, [3.0, 6.0])


def test_chunked_and_split_bodies_arrive_whole(url: str) -> None:
    sock, stream = connect(url)
    with sock, stream:
        head = f"POST {INFER} HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (BODY[:10], BODY[10:]))
        sock.sendall(head + chunks + b"0\r\n\r\n")
        status, _, body = read_response(stream)
        assert (status, outputs(body)) == (200, [3.0, 6.0])
        request = post(INFER, BODY)
        for piece in (request[:20], request[20:-5], request[-5:]):  # headers and body in several packets
            sock.sendall(piece)
            time.sleep(0.05)
        status, _, body = read_response(stream)
    assert (status, outputs(body)) == (200, [3.0, 6.0])


def test_a_malformed_request_gets_400_and_the_connection_closes(url: str) -> None:
    sock, stream = connect(url)
    with sock, stream:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        status, headers, body = read_response(stream)
        assert status == 400
        assert headers["connection"] == "close"
        assert json.loads(body)["error"].startswith("invalid HTTP request")
        assert closed(sock, stream)


def test_oversized_headers_get_431(url: str) -> None:
    sock, stream = connect(url)
    with sock, stream:
        sock.sendall(get("/v2/health/ready", f"X-Big: {'a' * (MAX_HEADER_BYTES + 10)}"))
        status, _, body = read_response(stream)
        assert status == 431
        assert str(MAX_HEADER_BYTES) in json.loads(body)["error"]
        assert closed(sock, stream)


def test_a_body_over_the_limit_is_refused_before_it_is_sent(url: str) -> None:
    sock, stream = connect(url)
    with sock, stream:
        sock.sendall(post(INFER, b"x" * 10_000)[:-10_000])  # only the headers: 10,000 declared, 4,096 allowed
        status, headers, body = read_response(stream)
        assert status == 413
        assert headers["connection"] == "close"
        assert json.loads(body) == {"error": "request body exceeds 4096 bytes"}
        assert closed(sock, stream)


def test_a_streamed_body_over_the_limit_is_refused(url: str) -> None:
    sock, stream = connect(url)
    with sock, stream:
        head = f"POST {INFER} HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        sock.sendall(head + b"".join(b"400\r\n" + b"x" * 1024 + b"\r\n" for _ in range(5)))
        status, _, body = read_response(stream)
    assert status == 413
    assert "4096" in json.loads(body)["error"]


def test_http_1_0_closes_unless_asked_to_keep_alive(url: str) -> None:
    sock, stream = connect(url)
    with sock, stream:
        sock.sendall(get("/v2/health/live", version="1.0"))
        status, headers, _ = read_response(stream)
        assert status == 200
        assert headers["connection"] == "close"
        assert closed(sock, stream)
    sock, stream = connect(url)
    with sock, stream:
        sock.sendall(get("/v2/health/live", "Connection: keep-alive", version="1.0"))
        assert read_response(stream)[1]["connection"] == "keep-alive"
        sock.sendall(get("/v2/health/live", "Connection: keep-alive", version="1.0"))
        assert read_response(stream)[0] == 200


def test_connection_close_is_honoured(url: str) -> None:
    sock, stream = connect(url)
    with sock, stream:
        sock.sendall(get("/v2/health/live", "Connection: close"))
        status, headers, _ = read_response(stream)
        assert status == 200
        assert headers["connection"] == "close"
        assert closed(sock, stream)


def test_head_gets_the_headers_without_the_body(url: str) -> None:
    sock, stream = connect(url)
    with sock, stream:
        sock.sendall(b"HEAD /v2/health/live HTTP/1.1\r\nHost: test\r\n\r\n")
        assert stream.readline().startswith(b"HTTP/1.1 405")
        head = b""
        while (line := stream.readline()) != b"\r\n":
            head += line
        assert b"allow: GET" in head
        assert b"content-length: " in head
        sock.sendall(get("/v2/health/live"))  # no body followed the 405's headers: the next reply comes next
        status, _, body = read_response(stream)
    assert (status, json.loads(body)) == (200, {"live": True})


def test_an_upgrade_request_is_answered_as_http_1_1_and_the_connection_closes(url: str) -> None:
    sock, stream = connect(url)
    with sock, stream:
        sock.sendall(get("/v2/health/live", "Connection: Upgrade", "Upgrade: websocket") + b"\x81\x05hello")
        status, headers, body = read_response(stream)
        assert (status, json.loads(body)) == (200, {"live": True})
        assert headers["connection"] == "close"
        assert closed(sock, stream)


def test_idle_connections_close_after_the_keep_alive_timeout(url: str) -> None:
    sock, stream = connect(url)
    with sock, stream:
        sock.sendall(get("/v2/health/live"))
        assert read_response(stream)[0] == 200
        started = time.monotonic()
        assert closed(sock, stream)  # timeout_keep_alive=1 in this module's server
        assert 0.5 < time.monotonic() - started < 5


def test_a_half_sent_request_does_not_hold_the_connection_forever(url: str) -> None:
    sock, stream = connect(url)
    with sock, stream:
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: te")
        assert closed(sock, stream)


def test_percent_encoded_paths_and_query_strings(url: str) -> None:
    sock, stream = connect(url)
    with sock, stream:
        sock.sendall(get("/v2/models/%64oubler/ready?x=1#frag"))
        status, _, body = read_response(stream)
    assert (status, json.loads(body)) == (200, {"name": "doubler", "ready": True})


def test_a_client_that_goes_away_mid_body_leaves_the_server_serving(url: str) -> None:
    sock, stream = connect(url)
    with sock, stream:
        sock.sendall(post(INFER, BODY)[:-10])
    sock, stream = connect(url)
    with sock, stream:
        sock.sendall(post(INFER, BODY))
        assert read_response(stream)[0] == 200


@pytest.mark.parametrize("http", ["native", "uvicorn"])
def test_both_fronts_give_the_same_answers(http: str, tmp_path: Path) -> None:
    with serving([doubler(tmp_path)], ServingSettings(http=http)) as (base, _app):
        ok = httpx.post(f"{base}{INFER}", content=BODY, headers={"x-request-id": "abc-1", "traceparent": TRACE})
        bad = httpx.post(f"{base}{INFER}", content=b"{not json")
        wrong = httpx.get(f"{base}{INFER}")
        missing = httpx.post(f"{base}/v1/models/nope:predict", json={"instances": [[1, 2]]})
    assert ok.status_code == 200
    assert outputs(ok.content) == [3.0, 6.0]
    assert (ok.headers["x-request-id"], ok.headers["traceparent"]) == ("abc-1", TRACE)
    assert json.loads(ok.content)["id"] == "abc-1"
    assert bad.status_code == 400
    assert "not valid JSON" in bad.json()["error"]
    assert (wrong.status_code, wrong.headers["allow"]) == (405, "POST")
    assert missing.status_code == 404
    assert "nope" in missing.json()["error"]


TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
