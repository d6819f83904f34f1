"""The files a job keeps next to its output, so that a killed job can resume.

For ``--output out.parquet``::

    out.parquet.lock             held (flock) while a job writes out.parquet; one job at a time
    out.parquet.parts/           one Parquet file per finished chunk: chunk-00000042.parquet
    out.parquet.progress.jsonl   line 1: the job's fingerprint; then one line per finished chunk
    out.parquet.partial          the final file while it is being assembled
    out.parquet.job.json         the job record (also on failure)

A chunk's part file is written under a temporary name, fsynced and renamed into place
before its line is appended to the progress file (and fsynced), so every line names a
complete part. A torn last line (the job was killed while writing it) is dropped on
resume and that chunk is predicted again. Parquet files cannot be appended to, so the
output is assembled only at the end: the parts, in chunk order, are streamed through one
``ParquetWriter`` into ``out.parquet.partial``, which is fsynced and renamed to
``out.parquet``; then the parts directory and the progress file are removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, ValidationError

from shipyard.artifacts.digests import file_digest
from shipyard.batch.schemas import FailedRange, OutputInfo
from shipyard.batch.worker import ChunkResult, fsync_path
from shipyard.errors import Conflict, InvalidArgument

PROGRESS_FORMAT = 1


@dataclass(frozen=True)
class JobPaths:
    output: Path

    def _sibling(self, suffix: str) -> Path:
        return self.output.with_name(self.output.name + suffix)

    @property
    def lock(self) -> Path:
        return self._sibling(".lock")

    @property
    def parts(self) -> Path:
        return self._sibling(".parts")

    @property
    def progress(self) -> Path:
        return self._sibling(".progress.jsonl")

    @property
    def partial(self) -> Path:
        return self._sibling(".partial")

    @property
    def record(self) -> Path:
        return self._sibling(".job.json")


@contextlib.contextmanager
def locked(paths: JobPaths) -> Iterator[None]:
    """Hold ``<output>.lock``; a second job for the same output is refused, not queued."""
    paths.output.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(paths.lock, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Conflict(
                f"another job is writing '{paths.output}' (it holds {paths.lock.name})",
                {"field": "output", "lock": str(paths.lock)},
            ) from None
        try:
            yield
        finally:
            with contextlib.suppress(FileNotFoundError):
                paths.lock.unlink()
    finally:
        os.close(fd)


class ChunkEntry(BaseModel):
    """One finished chunk, as recorded in the progress file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: int
    first_row: int
    rows: int
    rows_out: int
    part: str | None
    part_bytes: int
    failures: list[FailedRange] = []

    @property
    def last_row(self) -> int:
        return self.first_row + self.rows - 1

    @classmethod
    def of(cls, result: ChunkResult) -> ChunkEntry:
        return cls(
            index=result.index,
            first_row=result.first_row,
            rows=result.rows,
            rows_out=result.rows_out,
            part=result.part,
            part_bytes=result.part_bytes,
            failures=result.failures,
        )


def _differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    return sorted(key for key in old.keys() | new.keys() if old.get(key) != new.get(key))


class Checkpoint:
    """The progress file, open for appending, and the chunks it lists."""

    def __init__(self, paths: JobPaths, entries: dict[int, ChunkEntry], handle: IO[bytes]) -> None:
        self.paths = paths
        self.entries = entries
        self._handle = handle

    @classmethod
    def open(cls, paths: JobPaths, fingerprint: Mapping[str, Any], *, resume: bool) -> Checkpoint:
        """Continue the checkpoint for the same fingerprint (``resume``), or start an empty one.

        A checkpoint written for another input, model or options is refused on resume."""
        found = _read(paths, fingerprint) if resume and paths.progress.is_file() else None
        if found is not None:
            entries, valid_bytes = found
            paths.parts.mkdir(parents=True, exist_ok=True)
            handle = paths.progress.open("r+b")
            handle.truncate(valid_bytes)  # a torn last line is dropped
            handle.seek(valid_bytes)
            return cls(paths, entries, handle)
        discard(paths)
        paths.parts.mkdir(parents=True)
        handle = paths.progress.open("w+b")
        checkpoint = cls(paths, {}, handle)
        checkpoint._append({"format": PROGRESS_FORMAT, "fingerprint": dict(fingerprint)})
        fsync_path(paths.output.parent)
        return checkpoint

    def _append(self, line: Mapping[str, Any]) -> None:
        self._handle.write(json.dumps(line, sort_keys=True, separators=(",", ":")).encode() + b"\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def add(self, result: ChunkResult) -> ChunkEntry:
        entry = ChunkEntry.of(result)
        self._append(entry.model_dump(mode="json"))
        self.entries[entry.index] = entry
        return entry

    def close(self) -> None:
        self._handle.close()


def _read(paths: JobPaths, fingerprint: Mapping[str, Any]) -> tuple[dict[int, ChunkEntry], int] | None:
    """The chunks a progress file lists whose part files are present, and how many bytes
    of the file are whole lines; None if the job was killed before its header was written."""
    raw = paths.progress.read_bytes()
    lines = raw.split(b"\n")
    if len(lines) < 2:  # no complete first line
        return None
    try:
        header = json.loads(lines[0])
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != PROGRESS_FORMAT:
        raise InvalidArgument(
            f"'{paths.progress}' is not a checkpoint this version can resume; run again without --resume",
            {"field": "resume", "path": str(paths.progress)},
        )
    recorded = header.get("fingerprint") or {}
    if changed := _differences(recorded, fingerprint):
        raise InvalidArgument(
            f"the checkpoint at '{paths.progress}' was made with a different {', '.join(changed)}; "
            "run again without --resume to start over",
            {"field": "resume", "changed": changed},
        )
    entries: dict[int, ChunkEntry] = {}
    valid = len(lines[0]) + 1
    for line in lines[1:-1]:  # the last element follows the final newline: empty, or torn
        try:
            entry = ChunkEntry.model_validate_json(line)
        except ValidationError:
            break
        valid += len(line) + 1
        part = paths.parts / entry.part if entry.part else None
        if part is None or (part.is_file() and part.stat().st_size == entry.part_bytes):
            entries[entry.index] = entry
    return entries, valid


def discard(paths: JobPaths) -> None:
    """Remove a checkpoint and any half-assembled output."""
    shutil.rmtree(paths.parts, ignore_errors=True)
    for path in (paths.progress, paths.partial):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _unify(schemas: Sequence[Any]) -> Any:
    """One schema for all parts: types widened where they differ (int64 and float64 make
    float64), text where they cannot be (a CSV key column that is numeric in one file only)."""
    try:
        return pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    names = list(dict.fromkeys(name for schema in schemas for name in schema.names))
    fields = []
    for name in names:
        types = [pa.schema([schema.field(name)]) for schema in schemas if name in schema.names]
        try:
            fields.append(pa.unify_schemas(types, promote_options="permissive").field(0))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            fields.append(pa.field(name, pa.string()))
    return pa.schema(fields)


def publish(paths: JobPaths, entries: Sequence[ChunkEntry], empty_schema: Any) -> OutputInfo:
    """Stream the parts, in order, into ``<output>.partial``; fsync; rename it to the output.

    The columns' types are the parts' types unified (an integer column in one chunk and a
    float column in another become float); ``empty_schema`` is used when no row succeeded."""
    parts = [paths.parts / entry.part for entry in entries if entry.part]
    schemas = [pq.read_schema(part) for part in parts]
    schema = (_unify(schemas) if schemas else empty_schema).remove_metadata()
    with pq.ParquetWriter(paths.partial, schema) as writer:
        for part in parts:
            table = pq.read_table(part)
            try:
                writer.write_table(table.select(schema.names).cast(schema))
            except (pa.ArrowInvalid, pa.ArrowTypeError, KeyError) as exc:
                raise InvalidArgument(
                    f"the predictions in {part.name} do not fit the output's columns: {exc}", {"field": "model"}
                ) from exc
    fsync_path(paths.partial)
    sha256, size = file_digest(paths.partial)
    paths.partial.replace(paths.output)
    fsync_path(paths.output.parent)
    return OutputInfo(path=str(paths.output), sha256=sha256, bytes=size, columns=list(schema.names))
