"""An input larger than the memory the job may use is predicted anyway, because every
stage streams: Parquet read batch by batch, one chunk per part file, the output
assembled part by part, digests computed over 1 MiB blocks.

The job runs in a child process (``tests/batch/memory_child.py``) whose RLIMIT_DATA is
set below the input's size, and which reports its peak RSS (VmHWM). The input carries a
1,000-byte random payload per row as a key column, so its bytes travel through every
stage into the output, not only the model's four numbers.

The child's allocators are pinned so that RLIMIT_DATA (which counts reserved, not used,
memory) measures what the job uses: Arrow's system allocator instead of mimalloc (which
reserves large arenas up front), two malloc arenas, a fixed mmap threshold, and one BLAS
thread, two Arrow CPU threads and two Arrow I/O threads (each thread's stack counts
too). Measured on a 2-core Linux VM (Python 3.11, pyarrow 26), chunks of 10,000 rows:

* baseline, the same job over 2,000 rows: peak RSS ~200 MB; it needs ~220 MiB of
  RLIMIT_DATA (mostly imports: numpy, pandas, pyarrow, Shipyard).
* 350,000 rows, 366 MB of Parquet: peak RSS ~240 MB, i.e. ~40 MB over the baseline
  (about four chunks), under a 300 MiB (315 MB) RLIMIT_DATA; ~7 s.
* with the default allocators the job needs ~400 MiB of RLIMIT_DATA whatever the input
  size (mimalloc's reservations), and peaks at ~300 MB RSS on this input.
* before ``pre_buffer=False`` the Parquet reader buffered the whole file: peak RSS grew
  with the input (~600 MB here), the negative control for this test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from shipyard.models import save_model
from tests.batch.conftest import REPO, subprocess_env
from tests.batch.models import RowSum, frame

MiB = 1024 * 1024
MB = 1000 * 1000
ROWS = 350_000
PAYLOAD = 1000  # bytes per row
GROUP = 10_000  # rows per row group (and per chunk)
DATA_CAP = 300 * MiB
GROWTH_MAX = 100 * MB  # peak RSS over the baseline's
TIMEOUT_S = 120.0
PINNED = {
    "ARROW_DEFAULT_MEMORY_POOL": "system",
    "MALLOC_ARENA_MAX": "2",
    "MALLOC_MMAP_THRESHOLD_": str(MiB),
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "2",  # also Arrow's CPU thread count
    "ARROW_IO_THREADS": "2",
}


def write_input(path: Path, rows: int) -> None:
    """``payload`` (random bytes), ``x``, ``a``, ``b``; written one row group at a time."""
    schema = pa.schema([("payload", pa.binary()), ("x", pa.int64()), ("a", pa.float64()), ("b", pa.float64())])
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, GROUP):
            count = min(GROUP, rows - start)
            blob = pa.py_buffer(os.urandom(count * PAYLOAD))
            payload = pa.FixedSizeBinaryArray.from_buffers(pa.binary(PAYLOAD), count, [None, blob]).cast(pa.binary())
            x = np.arange(start, start + count, dtype=np.int64)
            writer.write_table(pa.table([payload, x, x * 0.5, np.sqrt(x)], schema=schema))


def run_capped(cap: int, env: dict[str, str], model: Path, source: Path, output: Path) -> dict[str, int]:
    command = [
        sys.executable, "-m", "tests.batch.memory_child", str(cap), "predict", str(model),
        "--input", str(source), "--output", str(output), "--key", "payload",
        "--chunk-rows", str(GROUP), "--workers", "1", "--quiet",
    ]  # fmt: skip
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    report: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["exit"] == 0, done.stderr[-2000:]
    return report


def test_an_input_larger_than_the_memory_cap(tmp_path: Path, home: Path, bytecode_cache: Path) -> None:
    model = tmp_path / "row-sum"
    save_model(RowSum(), model, input_example=frame(3)[["x", "a", "b"]])
    env = {**subprocess_env(home, bytecode_cache), **PINNED}
    try:
        small = tmp_path / "small.parquet"
        write_input(small, 2_000)
        baseline = run_capped(0, env, model, small, tmp_path / "small-out.parquet")

        big = tmp_path / "big.parquet"
        write_input(big, ROWS)
        assert big.stat().st_size > DATA_CAP * 1.1
        output = tmp_path / "big-out.parquet"
        capped = run_capped(DATA_CAP, env, model, big, output)

        print(f"baseline {baseline}, capped {capped}, input {big.stat().st_size}")
        assert capped["peak_rss"] - baseline["peak_rss"] < GROWTH_MAX, (baseline, capped)
        assert capped["peak_rss"] < DATA_CAP
        meta = pq.ParquetFile(output).metadata
        assert meta.num_rows == ROWS
        last = pq.ParquetFile(output).read_row_group(meta.num_row_groups - 1, columns=["row_index", "prediction"])
        assert last.column("row_index")[-1].as_py() == ROWS - 1
        x = ROWS - 1
        assert last.column("prediction")[-1].as_py() == x + x * 0.5 + np.sqrt(x)
    finally:
        for path in tmp_path.iterdir():
            if path.is_dir() and path != home:
                shutil.rmtree(path)
            elif path.is_file():
                path.unlink()
