"""A writer killed mid-upload leaves no blob behind, and the same upload then succeeds.

The writer is a separate process (``tests/blob_writer.py``) that streams slowly, so the
test can SIGKILL it with part of the bytes staged: once straight into the blob store
(``BlobStore.stage`` / ``commit``), once as an HTTP client of a real server. Both run on
the local backend and on S3 (moto).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog.testing
from botocore.exceptions import ClientError

from shipyard.artifacts.backends import STAGING_DIR, BlobStore, LocalBlobStore, clean_staging, open_blob_store
from shipyard.client import Client
from shipyard.demo.background_server import serve_in_thread
from shipyard.errors import NotFound
from shipyard.server.app import create_app
from shipyard.settings import Settings
from tests.blob_writer import pattern_chunks, pattern_digest
from tests.s3 import (
    boto_client,
    bucket_and_prefix,
    clean_env,
    moto_endpoint_fixture,  # noqa: F401
    object_key,
    s3_settings_fixture,  # noqa: F401
)

KiB = 1024
MiB = 1024 * KiB
WRITER = Path(__file__).with_name("blob_writer.py")
SIZE = 8 * MiB
CHUNK = 128 * KiB
SLOW_S = 0.1  # 64 chunks: a writer left alone would take ~6.4 s
KILL_AFTER = MiB + CHUNK  # staged bytes that prove the writer is mid-upload
TIMEOUT_S = 30.0
DAY_S = 24 * 3600
BLOBS = "/api/v1/projects/default/blobs"


@pytest.fixture(params=["local", "s3"])
def backend_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    if request.param == "local":
        return settings
    s3: Settings = request.getfixturevalue("s3_settings")
    return s3


@pytest.fixture
def store(backend_settings: Settings) -> BlobStore:
    """The test's own handle on the blob store the writer and the server use."""
    s = backend_settings
    return open_blob_store(s.artifacts_url, s.artifacts, s.home)


@pytest.fixture
def digest() -> str:
    return pattern_digest(SIZE, CHUNK)


@pytest.fixture
def quiet_logs() -> Iterator[list[MutableMapping[str, Any]]]:
    """Capture structlog events: the server logs each killed request with a traceback,
    which the default (embedded-mode) console renderer is slow to format."""
    with structlog.testing.capture_logs() as logs:
        yield logs


# -- helpers -----------------------------------------------------------------------------


def writer_overrides(settings: Settings) -> dict[str, Any]:
    """The settings a writer process needs to open the same blob store, as overrides."""
    a = settings.artifacts
    out: dict[str, Any] = {"home": str(settings.home), "artifacts.url": settings.artifacts_url}
    if a.s3_endpoint_url:
        out["artifacts.s3_endpoint_url"] = a.s3_endpoint_url
        out["artifacts.s3_region"] = a.s3_region
        assert a.s3_access_key_id is not None
        assert a.s3_secret_access_key is not None
        out["artifacts.s3_access_key_id"] = a.s3_access_key_id.get_secret_value()
        out["artifacts.s3_secret_access_key"] = a.s3_secret_access_key.get_secret_value()
    return out


def start_writer(mode: str, target: str, delay_s: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WRITER), mode, target, str(SIZE), str(CHUNK), str(delay_s)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )


def run_writer(mode: str, target: str) -> dict[str, Any]:
    """Run a writer at full speed to the end; returns its JSON result."""
    proc = start_writer(mode, target, 0)
    out, err = proc.communicate(timeout=TIMEOUT_S)
    assert proc.returncode == 0, err
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def wait_for(check: Callable[[], bool], what: str, timeout_s: float = TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.01)


def staged_parts(store: BlobStore) -> list[Path]:
    return sorted(store.staging_root.glob("*.part"))


def biggest_part(store: BlobStore) -> int:
    sizes = []
    for part in staged_parts(store):
        try:
            sizes.append(part.stat().st_size)
        except FileNotFoundError:
            continue
    return max(sizes, default=0)


def kill_mid_upload(proc: subprocess.Popen[str], store: BlobStore) -> str:
    """SIGKILL the writer once it has staged at least :data:`KILL_AFTER` bytes; returns
    what it printed."""

    def staged_enough() -> bool:
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"the writer ended (rc={proc.returncode}) before it could be killed: {err}")
        return biggest_part(store) >= KILL_AFTER

    try:
        wait_for(staged_enough, f"the writer to stage {KILL_AFTER} bytes")
        assert biggest_part(store) < SIZE, "the writer staged everything; it was not killed mid-upload"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=TIMEOUT_S)
    assert proc.returncode == -signal.SIGKILL
    out, _ = proc.communicate(timeout=TIMEOUT_S)
    return out


def assert_no_blob(settings: Settings, store: BlobStore, digest: str, url: str) -> None:
    """Nothing of ``digest`` is visible: not in the store, not at its final path or key,
    not through the API."""
    assert not store.exists(digest)
    with pytest.raises(NotFound):
        store.size(digest)
    if isinstance(store, LocalBlobStore):
        assert not store.path(digest).exists()
        published = [
            p for p in store.root.rglob("*") if p.is_file() and STAGING_DIR not in p.relative_to(store.root).parts
        ]
        assert published == []
    else:
        assert settings.artifacts.s3_endpoint_url is not None
        s3 = boto_client(settings.artifacts.s3_endpoint_url)
        bucket, prefix = bucket_and_prefix(settings)
        with pytest.raises(ClientError) as caught:
            s3.head_object(Bucket=bucket, Key=object_key(settings, digest))
        assert caught.value.response["Error"]["Code"] in ("404", "NoSuchKey")
        assert s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/").get("KeyCount", 0) == 0
        assert s3.list_multipart_uploads(Bucket=bucket, Prefix=f"{prefix}/").get("Uploads", []) == []
    with Client(url, settings=settings) as client:
        assert client.list_blobs().items == []
        with pytest.raises(NotFound):
            client.blob_info(digest)
    response = httpx.get(f"{url}{BLOBS}/{digest}", timeout=TIMEOUT_S)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


def assert_content(store: BlobStore, digest: str) -> None:
    """The stored blob is exactly the writer's bytes."""
    store.verify(digest)
    assert store.size(digest) == SIZE
    stored = hashlib.sha256()
    for piece in store.iter_verified(digest):
        stored.update(piece)
    expected = hashlib.sha256()
    for piece in pattern_chunks(SIZE, CHUNK):
        expected.update(piece)
    assert stored.hexdigest() == expected.hexdigest() == digest


def download_and_check(url: str, settings: Settings, digest: str, dest: Path) -> None:
    with Client(url, settings=settings) as client:
        assert client.blob_info(digest).size == SIZE
        client.download_blob(digest, dest)
    h = hashlib.sha256()
    with dest.open("rb") as fh:
        while piece := fh.read(MiB):
            h.update(piece)
    assert h.hexdigest() == digest


# -- tests -------------------------------------------------------------------------------


def test_killed_store_writer_leaves_no_blob_and_a_retry_succeeds(
    backend_settings: Settings, store: BlobStore, digest: str, tmp_path: Path
) -> None:
    target = json.dumps(writer_overrides(backend_settings))
    printed = kill_mid_upload(start_writer("store", target, SLOW_S), store)

    # What the dead writer left: its partial staging file, outside the blob namespace.
    leftover = Path(json.loads(printed.splitlines()[0])["staging"])
    assert staged_parts(store) == [leftover]
    assert KILL_AFTER <= leftover.stat().st_size < SIZE

    with serve_in_thread(create_app(backend_settings, embedded=True)) as url:
        assert_no_blob(backend_settings, store, digest, url)

        # clean_staging spares a fresh file (it may be a live writer's) and removes a stale one.
        assert clean_staging(store) == 0
        assert leftover.exists()
        stale = time.time() - 2 * DAY_S
        os.utime(leftover, (stale, stale))
        assert clean_staging(store) == 1
        assert not leftover.exists()
        assert staged_parts(store) == []

        # The same upload, run again to the end, is published whole.
        result = run_writer("store", target)
        assert result == {"digest": digest, "size": SIZE}
        assert staged_parts(store) == []
        assert_content(store, digest)

        # ...and the API can adopt and serve it.
        src = tmp_path / "src.bin"
        with src.open("wb") as fh:
            for piece in pattern_chunks(SIZE, CHUNK):
                fh.write(piece)
        with Client(url, settings=backend_settings) as client:
            info = client.upload_blob(src)
        assert (info.digest, info.size) == (digest, SIZE)
        download_and_check(url, backend_settings, digest, tmp_path / "out.bin")


def test_client_killed_mid_body_leaves_no_blob_and_a_retry_succeeds(
    backend_settings: Settings,
    store: BlobStore,
    digest: str,
    tmp_path: Path,
    quiet_logs: list[MutableMapping[str, Any]],
) -> None:
    with serve_in_thread(create_app(backend_settings, embedded=True)) as url:
        kill_mid_upload(start_writer("http", url, SLOW_S), store)

        # The server notices the dropped connection and discards what it had staged.
        wait_for(lambda: staged_parts(store) == [], "the server to discard the partial upload")
        assert_no_blob(backend_settings, store, digest, url)

        result = run_writer("http", url)
        assert result["status"] == 201
        assert (result["body"]["digest"], result["body"]["size"]) == (digest, SIZE)
        assert staged_parts(store) == []
        assert_content(store, digest)
        download_and_check(url, backend_settings, digest, tmp_path / "out.bin")


def test_server_start_sweeps_stale_staging_files(backend_settings: Settings, store: BlobStore) -> None:
    store.staging_root.mkdir(parents=True, exist_ok=True)
    stale = store.staging_root / "dead-writer.part"
    fresh = store.staging_root / "live-writer.part"
    stale.write_bytes(b"x" * 100)
    fresh.write_bytes(b"y" * 100)
    old = time.time() - 2 * DAY_S
    os.utime(stale, (old, old))

    app = create_app(backend_settings, embedded=True)
    try:
        assert not stale.exists()
        assert fresh.exists()
    finally:
        app.state.shipyard.db.dispose()
