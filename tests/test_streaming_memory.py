"""A blob larger than the memory a client or the server may use still moves through
both, because every hop streams.

Everything here is a real process: ``shipyard server`` (SQLite, local artifact store in a
temporary home) and SDK/CLI clients (``tests/sdk_child.py``) that report their own peak
memory (VmHWM: ``ru_maxrss`` would include the RSS of pytest, which forked them). The
file is 300 MiB, written in 1 MiB pieces and never held in memory here.

Measured on a 2-core, 24 GB Linux VM (Python 3.11):

* a child that has only imported the SDK: VmData ~63 MiB, peak RSS ~79 MB; with the CLI
  imported: VmData ~65 MiB, RSS ~82 MB. It cannot start under a 50 MB RLIMIT_DATA.
* 300 MiB upload: client peak RSS ~80 MB; download (SDK) ~80 MB; download (CLI) ~88 MB,
  each under the RLIMIT_DATA below and still fine at 90 MB.
* the server's VmHWM after all of it: ~103 MB.
* local mode (app in the client process): ~97 MB once started, ~100 MB after the
  upload, ~110 MB after the download.
* ``Client.read_blob`` (which returns the whole blob as bytes) peaks at ~690 MB RSS
  uncapped and dies of MemoryError under the cap: the negative control.
* wall time: upload ~3.7 s, download ~2.8 s, CLI download ~3.0 s.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.s3 import clean_env, free_port

KiB = 1024
MiB = 1024 * KiB
MB = 1000 * 1000
FILE_SIZE = 300 * MiB
# Below the file size, above what the imports need (~65 MiB of VmData): a client that
# buffered the transfer could not fit under it.
DATA_CAP = 128 * MiB
CLIENT_MAX_RSS = 150 * MB
SERVER_MAX_RSS = 200 * MB
LOCAL_MAX_RSS = 200 * MB  # client and app in one process
CHILD = Path(__file__).with_name("sdk_child.py")
TIMEOUT_S = 120.0
START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    home: Path
    token: str  # an org admin's API token (the server authenticates every call)

    def peak_rss(self) -> int:
        """The server process's high-water RSS (VmHWM), in bytes."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * KiB
        raise AssertionError("no VmHWM in /proc status")


@dataclass(frozen=True)
class BigFile:
    path: Path
    digest: str


def shipyard_command() -> list[str]:
    """The installed ``shipyard`` script beside this interpreter (so, a real process)."""
    script = shutil.which("shipyard", path=str(Path(sys.executable).parent))
    if script is not None:
        return [script]
    return [sys.executable, "-c", "from shipyard.cli.main import run; run()"]


def child_env(home: Path, token: str | None = None) -> dict[str, str]:
    env = {**clean_env(), "SHIPYARD_HOME": str(home), "SHIPYARD_LOGGING_LEVEL": "WARNING"}
    return env | ({"SHIPYARD_CLIENT_TOKEN": token} if token else {})


def _wait_healthy(proc: subprocess.Popen[bytes], url: str) -> bool:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("server-home")
    created = subprocess.run(
        [*shipyard_command(), "--home", str(home), "admin", "create-user", "streamer", "--admin", "--json"],
        capture_output=True,
        text=True,
        env=child_env(home),
        cwd=home,
        timeout=START_TIMEOUT_S,
        check=True,
    )
    token = json.loads(created.stdout)["token"]["token"]
    log = (home.parent / "server.log").open("wb")
    try:
        for _ in range(3):  # the probed port may be taken before the server binds it
            port = free_port()
            proc = subprocess.Popen(
                [*shipyard_command(), "--home", str(home), "server", "--host", "127.0.0.1", "--port", str(port)],
                stdout=log,
                stderr=log,
                env=child_env(home),
                cwd=home,
            )
            url = f"http://127.0.0.1:{port}"
            if _wait_healthy(proc, url):
                break
            _stop(proc)
        else:
            pytest.fail(f"shipyard server did not start: {(home.parent / 'server.log').read_text()[-2000:]}")
        try:
            yield Server(url, proc, home, token)
        finally:
            _stop(proc)
    finally:
        log.close()
        shutil.rmtree(home, ignore_errors=True)  # the stored 300 MiB blob


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BigFile]:
    path = tmp_path_factory.mktemp("big") / "big.bin"
    h = hashlib.sha256()
    with path.open("wb") as fh:
        for _ in range(FILE_SIZE // MiB):
            piece = os.urandom(MiB)
            fh.write(piece)
            h.update(piece)
    try:
        yield BigFile(path, h.hexdigest())
    finally:
        path.unlink(missing_ok=True)


def run_child(
    home: Path, cap: int, *args: str, token: str | None = None
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any] | None]:
    """Run ``tests/sdk_child.py`` (with ``token`` as SHIPYARD_CLIENT_TOKEN); returns the
    process and its final JSON line (None if it failed)."""
    done = subprocess.run(
        [sys.executable, str(CHILD), str(cap), *args],
        capture_output=True,
        text=True,
        env=child_env(home, token),
        cwd=home,
        timeout=TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        return done, None
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return done, report


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while piece := fh.read(MiB):
            h.update(piece)
    return h.hexdigest()


@pytest.fixture(scope="module")
def uploaded(server: Server, big_file: BigFile) -> dict[str, Any]:
    """The big file, uploaded once by an SDK child; its report (digest, size, peak RSS)."""
    done, report = run_child(server.home, 0, "upload", server.url, str(big_file.path), token=server.token)
    assert report is not None, done.stderr[-3000:]
    return report


def test_upload_streams_in_bounded_memory(server: Server, big_file: BigFile, uploaded: dict[str, Any]) -> None:
    assert (uploaded["digest"], uploaded["size"]) == (big_file.digest, FILE_SIZE)
    assert uploaded["vm_hwm_kb"] * KiB < CLIENT_MAX_RSS, uploaded
    assert server.peak_rss() < SERVER_MAX_RSS
    stored = server.home / "artifacts" / "sha256" / big_file.digest[:2] / big_file.digest[2:4] / big_file.digest
    assert stored.stat().st_size == FILE_SIZE


def test_download_streams_under_a_data_cap(
    server: Server, big_file: BigFile, uploaded: dict[str, Any], tmp_path: Path
) -> None:
    dest = tmp_path / "down.bin"
    try:
        done, report = run_child(
            tmp_path, DATA_CAP, "download", server.url, big_file.digest, str(dest), token=server.token
        )
        assert report is not None, done.stderr[-3000:]
        assert report["vm_hwm_kb"] * KiB < CLIENT_MAX_RSS, report
        assert dest.stat().st_size == FILE_SIZE
        assert sha256_of(dest) == big_file.digest
        assert not dest.with_name("down.bin.part").exists()
        assert server.peak_rss() < SERVER_MAX_RSS
    finally:
        dest.unlink(missing_ok=True)


def test_the_data_cap_forbids_buffering_the_blob(server: Server, big_file: BigFile, uploaded: dict[str, Any]) -> None:
    """Negative control: the same cap kills a client that holds the whole blob in memory."""
    done, report = run_child(server.home, DATA_CAP, "read", server.url, big_file.digest, token=server.token)
    assert report is None
    assert done.returncode != 0
    assert "MemoryError" in done.stderr


def test_cli_download_of_a_large_file_is_verified(
    server: Server, big_file: BigFile, uploaded: dict[str, Any], tmp_path: Path
) -> None:
    dest = tmp_path / "cli.bin"
    try:
        done, report = run_child(
            tmp_path,
            DATA_CAP,
            "cli",
            "--server-url",
            server.url,
            "artifacts",
            "download",
            f"sha256:{big_file.digest}",
            str(dest),
            token=server.token,
        )
        assert report is not None, done.stderr[-3000:]
        assert report["exit_code"] == 0, done.stderr[-3000:]
        assert f"wrote {dest} ({FILE_SIZE} bytes, sha256 verified)" in done.stdout
        assert report["vm_hwm_kb"] * KiB < CLIENT_MAX_RSS, report
        assert sha256_of(dest) == big_file.digest
        assert server.peak_rss() < SERVER_MAX_RSS
    finally:
        dest.unlink(missing_ok=True)


def test_local_mode_streams_in_bounded_memory(big_file: BigFile, tmp_path: Path) -> None:
    """Local mode runs the whole app in the client process: the in-process transport
    must stream both ways too. (No data cap here: the app's worker threads' stacks
    count against RLIMIT_DATA.)"""
    dest = tmp_path / "local.bin"
    try:
        done, up = run_child(tmp_path, 0, "upload", "local", str(big_file.path))
        assert up is not None, done.stderr[-3000:]
        assert (up["digest"], up["size"]) == (big_file.digest, FILE_SIZE)
        assert up["vm_hwm_kb"] * KiB < LOCAL_MAX_RSS, up

        done, down = run_child(tmp_path, 0, "download", "local", big_file.digest, str(dest))
        assert down is not None, done.stderr[-3000:]
        assert down["vm_hwm_kb"] * KiB < LOCAL_MAX_RSS, down
        assert sha256_of(dest) == big_file.digest
    finally:
        dest.unlink(missing_ok=True)
        shutil.rmtree(tmp_path / "artifacts", ignore_errors=True)
