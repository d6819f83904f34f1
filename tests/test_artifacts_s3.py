"""The blob store on S3 (moto's real S3 server on loopback), through the SDK in local
mode and over a real HTTP server: round trips, idempotence, ranges, readiness and
tamper detection."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog.testing

from shipyard.artifacts.backends import open_blob_store
from shipyard.client import Client
from shipyard.demo.background_server import serve_in_thread
from shipyard.errors import DigestMismatch, Unavailable
from shipyard.server.app import create_app
from shipyard.settings import Settings, load_settings
from tests.s3 import (
    boto_client,
    bucket_and_prefix,
    moto_endpoint_fixture,  # noqa: F401
    object_key,
    s3_overrides,
    s3_settings_fixture,  # noqa: F401
    unique_prefix,
)

KiB = 1024
MiB = 1024 * KiB
BLOBS = "/api/v1/projects/default/blobs"


def write_random(path: Path, size: int) -> str:
    """Write ``size`` random bytes in 1 MiB pieces; returns their sha256."""
    h = hashlib.sha256()
    with path.open("wb") as fh:
        left = size
        while left:
            chunk = os.urandom(min(MiB, left))
            fh.write(chunk)
            h.update(chunk)
            left -= len(chunk)
    return h.hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(MiB):
            h.update(chunk)
    return h.hexdigest()


def with_artifacts(settings: Settings, **changes: Any) -> Settings:
    return settings.model_copy(update={"artifacts": settings.artifacts.model_copy(update=changes)})


@contextmanager
def open_client(mode: str, settings: Settings) -> Iterator[tuple[Client, str | None]]:
    """The SDK in local mode (url None) or against a real uvicorn server (its url)."""
    if mode == "local":
        with Client(settings=settings) as client:
            yield client, None
        return
    with serve_in_thread(create_app(settings, embedded=True)) as url, Client(url, settings=settings) as client:
        yield client, url


@pytest.fixture(params=["local", "http"])
def mode(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def s3_client(mode: str, s3_settings: Settings) -> Iterator[Client]:
    with open_client(mode, s3_settings) as (client, _):
        yield client


def drain(url: str, size: int, received: list[int]) -> None:
    """GET ``url`` as a plain HTTP client, noting the length of each piece of body."""
    with httpx.Client(timeout=30) as http, http.stream("GET", url) as response:
        assert response.status_code == 200
        assert int(response.headers["content-length"]) == size
        for chunk in response.iter_bytes():
            received.append(len(chunk))


def tamper(settings: Settings, digest: str, data: bytes) -> None:
    """Overwrite a stored object behind Shipyard's back, straight in S3."""
    bucket, _ = bucket_and_prefix(settings)
    assert settings.artifacts.s3_endpoint_url is not None
    boto_client(settings.artifacts.s3_endpoint_url).put_object(
        Bucket=bucket, Key=object_key(settings, digest), Body=data
    )


def s3_keys(settings: Settings) -> list[str]:
    bucket, prefix = bucket_and_prefix(settings)
    assert settings.artifacts.s3_endpoint_url is not None
    listing = boto_client(settings.artifacts.s3_endpoint_url).list_objects_v2(Bucket=bucket, Prefix=prefix + "/")
    return sorted(obj["Key"] for obj in listing.get("Contents", []))


def staging_parts(settings: Settings) -> list[Path]:
    return sorted((settings.home / "tmp" / "staging").glob("*.part"))


# -- round trips -----------------------------------------------------------------------


def test_multi_mb_round_trip_lands_in_s3(s3_client: Client, s3_settings: Settings, tmp_path: Path) -> None:
    src = tmp_path / "model.bin"
    size = 5 * MiB + 12_345  # several chunks, not a multiple of the chunk size
    digest = write_random(src, size)

    info = s3_client.upload_blob(src)
    assert (info.digest, info.size) == (digest, size)

    # The bytes are an object at the content-addressed key, and nowhere local.
    bucket, _ = bucket_and_prefix(s3_settings)
    assert s3_settings.artifacts.s3_endpoint_url is not None
    head = boto_client(s3_settings.artifacts.s3_endpoint_url).head_object(
        Bucket=bucket, Key=object_key(s3_settings, digest)
    )
    assert head["ContentLength"] == size
    assert s3_keys(s3_settings) == [object_key(s3_settings, digest)]
    assert not (s3_settings.home / "artifacts").exists()
    assert staging_parts(s3_settings) == []

    dest = tmp_path / "out" / "model.bin"
    dest.parent.mkdir()
    assert s3_client.download_blob(digest, dest) == dest
    assert sha256_file(dest) == digest
    assert dest.stat().st_size == size
    assert not dest.with_name("model.bin.part").exists()

    assert hashlib.sha256(s3_client.read_blob(digest)).hexdigest() == digest
    assert s3_client.blob_info(f"sha256:{digest}").size == size
    assert [b.digest for b in s3_client.list_blobs().items] == [digest]


def test_reupload_is_idempotent(s3_client: Client, s3_settings: Settings, tmp_path: Path) -> None:
    src = tmp_path / "weights.bin"
    digest = write_random(src, 3 * MiB + 1)
    first = s3_client.upload_blob(src)
    bucket, _ = bucket_and_prefix(s3_settings)
    assert s3_settings.artifacts.s3_endpoint_url is not None
    s3 = boto_client(s3_settings.artifacts.s3_endpoint_url)
    etag = s3.head_object(Bucket=bucket, Key=object_key(s3_settings, digest))["ETag"]

    again = s3_client.upload_blob(src)
    as_bytes = s3_client.upload_blob(src.read_bytes())

    assert again == first
    assert as_bytes == first
    assert [b.digest for b in s3_client.list_blobs().items] == [digest]
    assert s3_keys(s3_settings) == [object_key(s3_settings, digest)]
    assert s3.head_object(Bucket=bucket, Key=object_key(s3_settings, digest))["ETag"] == etag
    assert staging_parts(s3_settings) == []


def test_download_resumes_from_partial_file(s3_client: Client, tmp_path: Path) -> None:
    src = tmp_path / "data.bin"
    size = 3 * MiB + 7
    digest = write_random(src, size)
    s3_client.upload_blob(src)

    dest = tmp_path / "data.out"
    part = dest.with_name("data.out.part")
    have = MiB + 3
    with src.open("rb") as fh:
        part.write_bytes(fh.read(have))
    progress: list[int] = []

    s3_client.download_blob(digest, dest, progress=progress.append)

    assert sha256_file(dest) == digest
    assert not part.exists()
    # Only the missing tail crossed the wire: the first report is what was already there.
    assert progress[0] == have
    assert sum(progress) == size


def test_resume_from_a_wrong_prefix_is_caught_then_recovers(s3_client: Client, tmp_path: Path) -> None:
    src = tmp_path / "data.bin"
    digest = write_random(src, 2 * MiB)
    s3_client.upload_blob(src)
    dest = tmp_path / "data.out"
    part = dest.with_name("data.out.part")
    part.write_bytes(os.urandom(MiB))  # not a prefix of the blob

    with pytest.raises(DigestMismatch) as caught:
        s3_client.download_blob(digest, dest)
    assert digest in str(caught.value)
    assert not dest.exists()
    assert not part.exists()

    s3_client.download_blob(digest, dest)
    assert sha256_file(dest) == digest


def test_range_head_and_info_over_http(s3_settings: Settings, tmp_path: Path) -> None:
    src = tmp_path / "data.bin"
    size = 2 * MiB + 11
    digest = write_random(src, size)
    data = src.read_bytes()
    with open_client("http", s3_settings) as (client, url), httpx.Client(base_url=url or "", timeout=30) as http:
        client.upload_blob(src)

        head = http.head(f"{BLOBS}/{digest}")
        assert head.status_code == 200
        assert int(head.headers["content-length"]) == size
        assert head.headers["accept-ranges"] == "bytes"
        assert head.headers["x-content-sha256"] == digest
        assert head.content == b""
        assert client.blob_info(digest).size == size

        middle = http.get(f"{BLOBS}/{digest}", headers={"Range": "bytes=1048570-1048579"})
        assert middle.status_code == 206
        assert middle.headers["content-range"] == f"bytes 1048570-1048579/{size}"
        assert middle.content == data[1048570:1048580]

        tail = http.get(f"{BLOBS}/{digest}", headers={"Range": "bytes=-10"})
        assert tail.status_code == 206
        assert tail.content == data[-10:]

        rest = http.get(f"{BLOBS}/{digest}", headers={"Range": f"bytes={size - 5}-"})
        assert rest.status_code == 206
        assert rest.content == data[-5:]

        beyond = http.get(f"{BLOBS}/{digest}", headers={"Range": f"bytes={size}-"})
        assert beyond.status_code == 416
        assert beyond.json()["error"]["code"] == "RANGE_NOT_SATISFIABLE"


# -- readiness ---------------------------------------------------------------------------


def test_readyz_reports_s3_store_ok(s3_client: Client, s3_settings: Settings) -> None:
    # A fresh prefix holds no object yet; that is an empty store, not a broken one.
    report = s3_client.ready()
    artifacts = report["checks"]["artifacts"]
    assert artifacts["ok"] is True, artifacts
    assert artifacts["backend"] == "FsspecBlobStore"
    assert artifacts["url"] == s3_settings.artifacts.url
    assert report["status"] == "ready"

    s3_client.upload_blob(b"first blob")
    assert s3_client.ready()["checks"]["artifacts"]["ok"] is True


def test_readyz_reports_a_missing_bucket(tmp_path: Path, moto_endpoint: str) -> None:
    overrides: dict[str, Any] = {"home": str(tmp_path), "logging.level": "WARNING"}
    overrides.update(s3_overrides(moto_endpoint, "p", bucket="no-such-bucket"))
    with Client(settings=load_settings(overrides).settings) as client, pytest.raises(Unavailable) as caught:
        client.ready()
    artifacts = caught.value.details["checks"]["artifacts"]
    assert artifacts["ok"] is False
    assert "no-such-bucket" in artifacts["error"]


def test_a_fresh_prefix_on_a_hierarchical_fsspec_store_is_ready(tmp_path: Path) -> None:
    """The bucket rule is for object stores: on memory:// (directories appear with the
    first write) a prefix nothing was written to yet is an empty, healthy store."""
    settings = load_settings({"home": str(tmp_path), "artifacts.url": f"memory://{unique_prefix()}/blobs"}).settings
    store = open_blob_store(settings.artifacts_url, settings.artifacts, settings.home)
    store.ping()
    digest = store.put_bytes(b"first")
    store.ping()
    assert store.read_bytes(digest) == b"first"


def test_readyz_asks_s3_every_time(tmp_path: Path, moto_endpoint: str) -> None:
    """Readiness must ask S3 on each probe, not answer from a cached listing: once the
    bucket is gone, the probe that said ready must say not ready."""
    bucket = f"doomed-{unique_prefix()}"
    s3 = boto_client(moto_endpoint)
    s3.create_bucket(Bucket=bucket)
    overrides: dict[str, Any] = {"home": str(tmp_path), "logging.level": "WARNING"}
    overrides.update(s3_overrides(moto_endpoint, "blobs", bucket=bucket))
    with Client(settings=load_settings(overrides).settings) as client:
        client.upload_blob(b"something")
        assert client.ready()["checks"]["artifacts"]["ok"] is True

        for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=obj["Key"])
        s3.delete_bucket(Bucket=bucket)

        with pytest.raises(Unavailable) as caught:
            client.ready()
        checks = caught.value.details["checks"]
        assert checks["artifacts"]["ok"] is False
        assert bucket in checks["artifacts"]["error"]
        assert checks["database"]["ok"] is True


# -- tamper detection --------------------------------------------------------------------


def test_tampered_small_blob_is_refused(mode: str, s3_settings: Settings, tmp_path: Path) -> None:
    original = os.urandom(4 * KiB)
    digest = hashlib.sha256(original).hexdigest()
    with open_client(mode, s3_settings) as (client, url):
        client.upload_blob(original)
        tamper(s3_settings, digest, os.urandom(len(original)))  # same size: only the hash can tell

        with pytest.raises(DigestMismatch) as caught:
            client.read_blob(digest)
        assert digest in str(caught.value)
        assert caught.value.expected == digest

        dest = tmp_path / "small.bin"
        with pytest.raises(DigestMismatch) as caught:
            client.download_blob(digest, dest)
        assert digest in str(caught.value)
        assert not dest.exists()
        assert not dest.with_name("small.bin.part").exists()

        assert client.blob_info(digest).size == len(original)
        if url is not None:
            # Verified before the status line: a clean error envelope, no corrupt bytes.
            raw = httpx.get(f"{url}{BLOBS}/{digest}", timeout=30)
            assert raw.status_code == 500
            assert raw.json()["error"]["code"] == "DIGEST_MISMATCH"
            assert original[:64] not in raw.content


def test_tampered_large_blob_aborts_the_stream(mode: str, s3_settings: Settings, tmp_path: Path) -> None:
    settings = with_artifacts(s3_settings, verify_before_send_bytes=1024, chunk_size=64 * KiB)
    size = MiB + 5
    original = os.urandom(size)
    digest = hashlib.sha256(original).hexdigest()
    # capture_logs also keeps the aborted responses' tracebacks from being rendered, which
    # structlog's default console renderer (embedded mode) takes seconds to do.
    with open_client(mode, settings) as (client, url), structlog.testing.capture_logs() as logs:
        client.upload_blob(original)
        flipped = bytearray(original)
        flipped[size // 2] ^= 0xFF
        tamper(settings, digest, bytes(flipped))

        dest = tmp_path / "large.bin"
        for _ in range(2):  # and a retry, which resumes from whatever .part was kept
            with pytest.raises((DigestMismatch, Unavailable)) as caught:
                client.download_blob(digest, dest)
            assert digest in str(caught.value)
            assert not dest.exists()

        with pytest.raises((DigestMismatch, Unavailable)):
            client.read_blob(digest)

        if url is not None:
            # Any HTTP client, not only the SDK, must see an aborted body rather than a
            # complete 200 carrying corrupt bytes.
            received: list[int] = []
            with pytest.raises(httpx.RemoteProtocolError):
                drain(f"{url}{BLOBS}/{digest}", size, received)
            assert sum(received) < size
        assert any(entry["event"] == "response aborted" for entry in logs)
