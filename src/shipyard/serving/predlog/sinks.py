"""Where prediction records go: Parquet files in hive-style partitions, local or in
object storage, that readers only ever see whole.

A :class:`Sink` takes one table per partition at a time (:meth:`Sink.write`) and makes
what it holds visible when :meth:`Sink.roll` says so. :class:`ParquetSink` keeps one open
file per partition and appends each table as a row group; a file is *published* once it
reaches ``roll_bytes`` or ``roll_interval_s`` of age (or at shutdown):

- local directory: the file is written as ``.part-<uuid>.parquet.tmp`` in its partition
  directory (a hidden, non-``.parquet`` name that DuckDB globs and ``pyarrow.dataset``
  skip) and renamed to ``part-<uuid>.parquet`` (``os.replace``, atomic on POSIX);
- any other fsspec URL (``s3://bucket/prefix``): the file is written to a local staging
  directory and uploaded to its final key, which an object store shows only once the
  upload completes (the artifact store publishes blobs the same way).

A file that fails to publish is retried with backoff (:data:`PUBLISH_ATTEMPTS` times),
then given up; a file whose writing fails is abandoned. Their rows are reported as lost
by the next :meth:`Sink.roll`, so the logger counts them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from shipyard.artifacts.backends import open_filesystem, storage_options
from shipyard.logging import get_logger
from shipyard.serving.predlog.records import Partition
from shipyard.serving.settings import PredictionLogSettings
from shipyard.settings import ArtifactSettings

log = get_logger("shipyard.serving")
PUBLISH_ATTEMPTS = 5
PUBLISH_BACKOFF_S = 1.0  # doubled after every failed attempt
MAX_OPEN_FILES = 64  # partitions written at once; the oldest is published to make room
COMPRESSION = "lz4"  # as batch outputs; cheaper than zstd on the server's CPU (benchmarks/serving_predlog.py)


@dataclass
class RollResult:
    """What a roll made visible, and what was lost since the last one (with why)."""

    published: list[tuple[Partition, int]] = field(default_factory=list)
    lost: list[tuple[Partition, int, str]] = field(default_factory=list)

    def extend(self, other: RollResult) -> None:
        self.published.extend(other.published)
        self.lost.extend(other.lost)


class Sink(ABC):
    """Takes record tables; called from one thread (the logger's writer) only."""

    @abstractmethod
    def write(self, partition: Partition, table: Any) -> None:
        """Take ``table`` (a ``pa.Table``) for ``partition``; raise if it cannot."""

    @abstractmethod
    def roll(self, now: float, *, everything: bool = False) -> RollResult:
        """Publish what is due at ``now`` (``time.monotonic()``); ``everything``: all of it."""

    def close(self) -> RollResult:
        return self.roll(time.monotonic(), everything=True)


@dataclass
class _OpenFile:
    partition: Partition
    name: str  # part-<uuid>.parquet
    staging: Path
    writer: Any  # pq.ParquetWriter
    schema: Any  # pa.Schema
    opened: float
    rows: int = 0


@dataclass
class _Unpublished:
    partition: Partition
    name: str
    staging: Path
    rows: int
    attempts: int = 0
    next_at: float = 0.0


STATISTICS = ["ts", "status"]  # min/max kept for these: readers skip row groups by time and outcome


def _encodings(schema: Any) -> dict[str, Any]:
    """Dictionaries for text (ids, labels, categories repeat), none for numbers, where
    they rarely pay and cost the most CPU; min/max statistics only where readers filter
    (:data:`STATISTICS`): each costs CPU on every write (benchmarks/serving_predlog.py)."""
    text = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    return {"use_dictionary": text or False, "write_statistics": [n for n in STATISTICS if n in schema.names]}


def _conform(table: Any, schema: Any) -> Any | None:
    """``table`` in ``schema`` (columns it lacks are null), or None if it has a column
    the schema does not, or one of another type: then it needs a file of its own."""
    if table.schema.equals(schema):
        return table
    names = set(table.schema.names)
    if not names <= set(schema.names):
        return None
    if any(schema.field(f.name).type != f.type for f in table.schema):
        return None
    arrays = [table.column(f.name) if f.name in names else pa.nulls(table.num_rows, f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


class ParquetSink(Sink):
    def __init__(self, url: str, *, roll_bytes: int, roll_interval_s: float, fs: Any = None, root: str = "") -> None:
        """A local directory (``fs`` None: ``url`` is its path) or an fsspec ``fs`` and its ``root``."""
        self.url = url
        self.roll_bytes = roll_bytes
        self.roll_interval_s = roll_interval_s
        self._fs = fs
        self._root = root.rstrip("/")
        self._local = Path(url.removeprefix("file://")).expanduser() if fs is None else None
        self._staging_dir: Path | None = None
        self._open: dict[Partition, _OpenFile] = {}
        self._unpublished: list[_Unpublished] = []
        self._lost: list[tuple[Partition, int, str]] = []

    # -- writing ---------------------------------------------------------------------
    def _stage(self, partition: Partition, name: str) -> Path:
        if self._local is not None:
            directory = self._local / partition.path
            directory.mkdir(parents=True, exist_ok=True)
            return directory / f".{name}.tmp"
        if self._staging_dir is None:
            self._staging_dir = Path(tempfile.mkdtemp(prefix="shipyard-predlog-"))
        return self._staging_dir / f"{name}.tmp"

    def _open_file(self, partition: Partition, schema: Any) -> _OpenFile:
        if len(self._open) >= MAX_OPEN_FILES:
            oldest = min(self._open.values(), key=lambda f: f.opened)
            self._finish(oldest)
        name = f"part-{uuid.uuid4().hex}.parquet"
        staging = self._stage(partition, name)
        writer = pq.ParquetWriter(staging, schema, compression=COMPRESSION, **_encodings(schema))
        opened = _OpenFile(partition, name, staging, writer, schema, time.monotonic())
        self._open[partition] = opened
        return opened

    def write(self, partition: Partition, table: Any) -> None:
        current = self._open.get(partition)
        conformed = None if current is None else _conform(table, current.schema)
        if current is not None and conformed is None:
            self._finish(current)  # new columns (a new output, another layout): a new file
        if current is None or conformed is None:
            current = self._open_file(partition, table.schema)
            conformed = table
        try:
            current.writer.write_table(conformed)
        except Exception as exc:
            self._abandon(current, exc)
            raise
        current.rows += table.num_rows
        if current.staging.stat().st_size >= self.roll_bytes:
            self._finish(current)

    def _abandon(self, file: _OpenFile, exc: BaseException) -> None:
        """A file that failed mid-write is deleted; its earlier rows are lost."""
        self._open.pop(file.partition, None)
        with contextlib.suppress(Exception):
            file.writer.close()
        file.staging.unlink(missing_ok=True)
        if file.rows:
            self._lost.append((file.partition, file.rows, f"{type(exc).__name__}: {exc}"))

    # -- publishing ------------------------------------------------------------------
    def _finish(self, file: _OpenFile) -> None:
        """Close ``file`` and queue it for publishing."""
        self._open.pop(file.partition, None)
        try:
            file.writer.close()
        except Exception as exc:
            self._abandon(file, exc)
            return
        self._unpublished.append(_Unpublished(file.partition, file.name, file.staging, file.rows))

    def _publish(self, item: _Unpublished) -> None:
        if self._local is not None:
            os.replace(item.staging, item.staging.with_name(item.name))
            return
        self._fs.put_file(str(item.staging), f"{self._root}/{item.partition.path}/{item.name}")
        item.staging.unlink(missing_ok=True)

    def roll(self, now: float, *, everything: bool = False) -> RollResult:
        for file in list(self._open.values()):
            if everything or now - file.opened >= self.roll_interval_s:
                self._finish(file)
        result = RollResult(lost=self._lost)
        self._lost = []
        waiting: list[_Unpublished] = []
        for item in self._unpublished:
            if item.next_at > now and not everything:
                waiting.append(item)
                continue
            try:
                self._publish(item)
            except Exception as exc:
                item.attempts += 1
                if item.attempts >= PUBLISH_ATTEMPTS or everything:
                    item.staging.unlink(missing_ok=True)
                    result.lost.append((item.partition, item.rows, f"{type(exc).__name__}: {exc}"))
                else:
                    item.next_at = now + PUBLISH_BACKOFF_S * 2 ** (item.attempts - 1)
                    waiting.append(item)
                    log.warning(
                        "prediction log file not published; will retry",
                        file=item.name,
                        attempt=item.attempts,
                        error=f"{type(exc).__name__}: {exc}",
                    )
                continue
            result.published.append((item.partition, item.rows))
        self._unpublished = waiting
        if everything and self._staging_dir is not None:
            shutil.rmtree(self._staging_dir, ignore_errors=True)
            self._staging_dir = None
        return result


def open_sink(settings: PredictionLogSettings, artifacts: ArtifactSettings | None = None) -> ParquetSink:
    """The sink for ``settings.url``: a local directory, or an fsspec URL opened as the
    artifact store opens one (for ``s3://``, the endpoint, region and credentials of
    ``artifacts``, else s3fs's own defaults)."""
    url = settings.url
    if not url:
        raise ValueError("the prediction log has no url")
    fs, root = None, ""
    if "://" in url and not url.startswith("file://"):
        fs, root = open_filesystem(url, storage_options(url, artifacts), "prediction_log.url")
    return ParquetSink(url, roll_bytes=settings.roll_bytes, roll_interval_s=settings.roll_interval_s, fs=fs, root=root)


__all__ = ["PUBLISH_ATTEMPTS", "ParquetSink", "RollResult", "Sink", "open_sink"]
