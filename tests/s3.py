"""A real S3-compatible endpoint for tests: moto's standalone server on loopback.

Register the fixtures in a test module by importing them::

    from tests.s3 import moto_endpoint_fixture, s3_settings_fixture  # noqa: F401

(The functions carry a ``_fixture`` suffix so that a test's ``s3_settings`` parameter does
not shadow an imported name; pytest knows them as ``moto_endpoint`` and ``s3_settings``.)

The server is a subprocess (``python -m moto.server``) bound to 127.0.0.1, so its
threads, logs and imports stay out of the pytest process. Every credential is passed
explicitly (``testing``/``testing``, us-east-1), so no AWS environment variable or config
file is needed, and child processes (:func:`clean_env`) get none.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from shipyard.settings import Settings, load_settings

BUCKET = "shipyard-test"
ACCESS_KEY = "testing"
SECRET_KEY = "testing"
REGION = "us-east-1"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env() -> dict[str, str]:
    """The environment for a child process: no SHIPYARD_* or AWS_* settings leak in."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("SHIPYARD_", "AWS_"))}


def boto_client(endpoint_url: str) -> Any:
    """A boto3 S3 client for the moto endpoint, with explicit dummy credentials."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
    )


def s3_overrides(endpoint_url: str, prefix: str, bucket: str = BUCKET) -> dict[str, Any]:
    """The settings overrides that point the artifact store at ``s3://bucket/prefix`` on moto."""
    return {
        "artifacts.url": f"s3://{bucket}/{prefix}",
        "artifacts.s3_endpoint_url": endpoint_url,
        "artifacts.s3_access_key_id": ACCESS_KEY,
        "artifacts.s3_secret_access_key": SECRET_KEY,
        "artifacts.s3_region": REGION,
    }


def _wait_until_up(proc: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited with {proc.returncode} before serving")
        try:
            httpx.get(f"{url}/moto-api/", timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"moto server did not answer on {url} within {START_TIMEOUT_S}s")


def start_moto(attempts: int = 3) -> tuple[subprocess.Popen[bytes], str]:
    """Start moto on a free loopback port; returns (process, endpoint URL)."""
    last: Exception | None = None
    for _ in range(attempts):  # another process may grab the port between probe and bind
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=clean_env(),
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(proc, url)
        except RuntimeError as exc:
            stop_process(proc)
            last = exc
            continue
        return proc, url
    raise RuntimeError(f"could not start moto: {last}")


def stop_process(proc: subprocess.Popen[bytes], timeout_s: float = STOP_TIMEOUT_S) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout_s)


@pytest.fixture(scope="session", name="moto_endpoint")
def moto_endpoint_fixture() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 with :data:`BUCKET` created; yields the endpoint URL."""
    proc, url = start_moto()
    try:
        boto_client(url).create_bucket(Bucket=BUCKET)
        yield url
    finally:
        stop_process(proc)


def unique_prefix() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def bucket_and_prefix(settings: Settings) -> tuple[str, str]:
    """``s3://bucket/prefix`` of ``settings.artifacts.url`` as (bucket, prefix)."""
    assert settings.artifacts.url is not None
    bucket, _, prefix = settings.artifacts.url.removeprefix("s3://").partition("/")
    return bucket, prefix.strip("/")


def object_key(settings: Settings, digest: str) -> str:
    """The S3 key a blob is stored under (the store's layout, spelled out independently)."""
    _, prefix = bucket_and_prefix(settings)
    return f"{prefix}/sha256/{digest[:2]}/{digest[2:4]}/{digest}"


@pytest.fixture(name="s3_settings")
def s3_settings_fixture(home: Path, database_url: str, moto_endpoint: str) -> Settings:
    """The test's settings with the artifact store at ``s3://<BUCKET>/<unique prefix>`` on moto."""
    overrides: dict[str, Any] = {"home": str(home), "database.url": database_url, "logging.level": "WARNING"}
    overrides.update(s3_overrides(moto_endpoint, unique_prefix()))
    return load_settings(overrides).settings
