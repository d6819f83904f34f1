"""A job killed with SIGKILL mid-way resumes without redoing or duplicating chunks.

`shipyard predict` runs as a real process with two workers and a slow model that notes
every chunk it predicts (its first row number and the worker's pid) in a marker file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from shipyard.models import save_model
from tests.batch.conftest import REPO, record_of, subprocess_env, write_parquet
from tests.batch.models import Slow, frame

CHUNKS = 30
CHUNK_ROWS = 50
DELAY_S = 0.15  # per chunk: 30 chunks on 2 workers take ~2.3 s once the workers are up
KILL_AFTER = 6  # finished chunks
TIMEOUT_S = 90.0


def _command(home: Path, model: Path, source: Path, output: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "tests.batch.cli", "--home", str(home), "predict", str(model),
        "--input", str(source), "--output", str(output), "--key", "id",
        "--chunk-rows", str(CHUNK_ROWS), "--workers", "2", "--quiet", *extra,
    ]  # fmt: skip


def _finished_chunks(progress: Path) -> list[int]:
    """Indices in the progress file (line 1 is the fingerprint; a torn last line is skipped)."""
    if not progress.is_file():
        return []
    indices = []
    for line in progress.read_text().splitlines()[1:]:
        try:
            indices.append(json.loads(line)["index"])
        except ValueError:
            break
    return indices


def _gone(pid: int) -> bool:
    """Whether a process has exited (a zombie waiting for its reaper counts as gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return any(line.split()[1:2] == ["Z"] for line in status.splitlines() if line.startswith("State:"))


def _markers(path: Path) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in (line.split() for line in path.read_text().splitlines())]


def test_resume_after_sigkill_finishes_exactly_once(tmp_path: Path, home: Path, bytecode_cache: Path) -> None:
    marker = tmp_path / "predicted.txt"
    model = tmp_path / "slow"
    save_model(Slow(str(marker), DELAY_S), model)
    rows = CHUNKS * CHUNK_ROWS
    source = write_parquet(frame(rows)[["id", "x"]], tmp_path / "rows.parquet")
    output = tmp_path / "out.parquet"
    progress = tmp_path / "out.parquet.progress.jsonl"
    env = subprocess_env(home, bytecode_cache)

    job = subprocess.Popen(
        _command(home, model, source, output), env=env, cwd=REPO,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while len(_finished_chunks(progress)) < KILL_AFTER and job.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert job.poll() is None, f"the job ended before it could be killed: {job.stderr.read()!r}"  # type: ignore[union-attr]
        assert len(_finished_chunks(progress)) >= KILL_AFTER, "no progress before the deadline"
        job.send_signal(signal.SIGKILL)
    finally:
        if job.poll() is None:
            job.kill()
        job.wait(timeout=TIMEOUT_S)
        if job.stderr is not None:
            job.stderr.close()
    assert job.returncode == -signal.SIGKILL

    # The orphaned workers notice that their parent is gone and exit.
    workers = {pid for _, pid in _markers(marker)}
    assert len(workers) == 2
    deadline = time.monotonic() + 10.0
    while not all(_gone(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(_gone(pid) for pid in workers)

    done_before = set(_finished_chunks(progress))
    assert KILL_AFTER <= len(done_before) < CHUNKS
    assert not output.exists()
    calls_before = len(_markers(marker))

    resumed = subprocess.run(
        _command(home, model, source, output, "--resume", "--json"),
        env=env, cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
    )  # fmt: skip

    assert resumed.returncode == 0, resumed.stderr
    record = json.loads(resumed.stdout)
    assert record == record_of(output)
    assert record["status"] == "succeeded"
    assert record["chunks"] == {
        "total": CHUNKS, "finished": CHUNKS, "computed": CHUNKS - len(done_before), "reused": len(done_before)
    }  # fmt: skip
    assert record["rows"] == {"input": rows, "output": rows, "failed": 0}
    # Every input row exactly once, in order.
    scores = pq.read_table(output).to_pandas()
    np.testing.assert_array_equal(scores["row_index"], np.arange(rows))
    assert scores["id"].tolist() == [f"r{i}" for i in range(rows)]
    np.testing.assert_array_equal(scores["prediction"], np.arange(rows) * 10)
    # Chunks finished before the kill were not predicted again; the rerun predicted each
    # remaining chunk once (those running at the kill had been started before, too).
    calls = Counter(first // CHUNK_ROWS for first, _ in _markers(marker))
    assert all(calls[index] == 1 for index in done_before)
    rerun = Counter(first // CHUNK_ROWS for first, _ in _markers(marker)[calls_before:])
    assert sorted(rerun) == sorted(set(range(CHUNKS)) - done_before)
    assert set(rerun.values()) == {1}
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "home", "out.parquet", "out.parquet.job.json", "predicted.txt", "rows.parquet", "slow"
    ]  # fmt: skip
    assert os.listdir(home) == ["batch-jobs.jsonl"]
