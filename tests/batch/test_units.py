"""The pieces under the command: chunking, CSV casting, the progress file."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped]
import pytest

from shipyard.batch.checkpoint import Checkpoint, JobPaths
from shipyard.batch.sources import cast_csv_columns, rechunk
from shipyard.batch.worker import ChunkResult, ChunkTask
from shipyard.errors import InvalidArgument


def test_rechunk_makes_exact_chunks_from_any_batches() -> None:
    batches = [pa.record_batch({"x": list(range(start, start + size))}) for start, size in ((0, 7), (7, 1), (8, 12))]

    chunks = list(rechunk(batches, 5))

    assert [c.num_rows for c in chunks] == [5, 5, 5, 5]
    assert [c.column("x").to_pylist()[0] for c in chunks] == [0, 5, 10, 15]


def test_a_sliced_chunk_travels_without_its_parent_buffer() -> None:
    parent = pa.table({"x": list(range(100_000))})

    task = ChunkTask.encoded(3, 300, parent.slice(300, 100), None)

    assert isinstance(task.data, bytes)
    assert len(task.data) < 2_000
    assert task.table().column("x").to_pylist() == list(range(300, 400))


def test_csv_text_is_cast_to_the_inferred_types() -> None:
    text = pa.table({"n": ["1", "NA", "3"], "f": ["2", "2.5", ""], "s": ["NA", "b", ""], "bad": ["1", "x", "2"]})
    types = {"n": pa.int64(), "f": pa.int64(), "s": pa.string(), "bad": pa.float64()}

    cast = cast_csv_columns(text, types)

    assert cast.column("n").to_pylist() == [1, None, 3]
    assert cast.column("n").type == pa.int64()
    assert cast.column("f").to_pylist() == [2.0, 2.5, None]  # integers with a fraction: float64
    assert cast.column("s").to_pylist() == ["NA", "b", ""]  # text stays as written
    assert cast.column("bad").to_pylist() == ["1", "x", "2"]  # left as text for the model to refuse


def _result(index: int, paths: JobPaths) -> ChunkResult:
    part = f"chunk-{index:08d}.parquet"
    (paths.parts / part).write_bytes(b"x" * (index + 1))
    return ChunkResult(index, index * 10, 10, 10, part, index + 1, 0.0)


def test_resume_keeps_whole_lines_and_present_parts(tmp_path: Path) -> None:
    paths = JobPaths(tmp_path / "out.parquet")
    fingerprint = {"input_sha256": "a", "chunk_rows": 10}
    checkpoint = Checkpoint.open(paths, fingerprint, resume=False)
    for index in range(3):
        checkpoint.add(_result(index, paths))
    checkpoint.close()
    (paths.parts / "chunk-00000001.parquet").unlink()  # its line stays, its part is gone
    with paths.progress.open("ab") as fh:
        fh.write(b'{"index": 3, "first_r')  # killed while writing a line

    resumed = Checkpoint.open(paths, fingerprint, resume=True)
    resumed.add(_result(4, paths))
    resumed.close()

    assert sorted(resumed.entries) == [0, 2, 4]
    again = Checkpoint.open(paths, fingerprint, resume=True)
    again.close()
    assert sorted(again.entries) == [0, 2, 4]
    with pytest.raises(InvalidArgument, match="made with a different chunk_rows"):
        Checkpoint.open(paths, {**fingerprint, "chunk_rows": 20}, resume=True)
    fresh = Checkpoint.open(paths, fingerprint, resume=False)
    fresh.close()
    assert fresh.entries == {}
    assert list(paths.parts.iterdir()) == []


def test_the_package_exports_a_sorted_complete_surface() -> None:
    import shipyard.batch

    exported = list(shipyard.batch.__all__)
    assert exported == sorted(exported)
    assert all(hasattr(shipyard.batch, name) for name in exported)
