"""The prediction log and the feedback log on disk: which files a reader reads, DuckDB views
over them, retention and compaction.

Layouts (hive-style; :mod:`shipyard.serving.predlog` writes the first, :mod:`.feedback` the second)::

    <prediction log>/project=<p>/endpoint=<e>/model=<name>/version=<v>/date=YYYY-MM-DD/part-<uuid>.parquet
    <feedback log>/project=<p>/endpoint=<e>/date=YYYY-MM-DD/part-<uuid>.parquet

Both roots are local directories (``monitoring.prediction_log_url`` and
``monitoring.feedback_url``; by default ``$SHIPYARD_HOME/prediction-log`` and
``$SHIPYARD_HOME/feedback``).

**Which files are live.** Writers publish a file by renaming it into place (the hidden
staging name ``.part-….tmp`` is never read). Compaction merges the small files of one
partition directory into one, without a reader ever seeing a row twice or missing one:

1. the merged file is written under a hidden temporary name and flushed to disk;
2. a hidden manifest ``.compact-<id>.replaces`` listing the merged files' names is written
   (harmless on its own: a manifest whose ``compact-<id>.parquet`` does not exist is ignored);
3. the merged file is renamed to ``compact-<id>.parquet`` — the commit point, atomic on
   POSIX file systems: from then on every reader that lists the directory sees the
   manifest too and skips the files it names (:func:`live_files`);
4. the merged files are deleted, then the manifest.

A reader that listed the directory before step 3 reads the small files only; after it, the
merged file only. A reader whose listing raced step 4 may name a file that is gone by the
time DuckDB opens it: :meth:`LogStore.query` then lists again and re-runs the query (a few
times). A crash between the steps leaves a state readers already handle; the next
compaction finishes or undoes it (:func:`_finish_pending`). Compactions of one directory
are serialised by an exclusive ``flock`` on ``.compact.lock``. Read the log through
:class:`LogStore` (``shipyard monitor query``): a bare ``read_parquet('<root>/**/*.parquet')``
does not know the manifests and can see both copies for the moment between steps 3 and 4.

**Retention** deletes whole date directories older than a cutoff (both logs). A query
running over a directory being deleted fails its read and is re-run without it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from shipyard.errors import InvalidArgument

if TYPE_CHECKING:
    import duckdb

    from shipyard.settings import Settings

LogKind = Literal["predictions", "feedback"]
LOGS: tuple[LogKind, ...] = ("predictions", "feedback")
PREDICTION_KEYS = ("project", "endpoint", "model", "version", "date")
FEEDBACK_KEYS = ("project", "endpoint", "date")
MANIFEST_PREFIX = ".compact-"
MANIFEST_SUFFIX = ".replaces"
COMPACT_PREFIX = "compact-"
LOCK_NAME = ".compact.lock"
SMALL_FILE_BYTES = 32 * 1024 * 1024
QUERY_ATTEMPTS = 5
MAX_QUERY_ROWS = 100_000
BATCH_ROWS = 65_536  # the defaults of the monitoring.* settings of the same meaning
SKETCH_CAPACITY = 65_536
SAMPLE_ROWS = 20_000
QUERY_MEMORY_MB = 256
_DATE = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")

# The columns of an empty log (no file yet), so queries and views still bind.
_EMPTY_PREDICTIONS = (
    'NULL::VARCHAR AS request_id, NULL::BIGINT AS "row", NULL::INTEGER AS rows, '
    "NULL::TIMESTAMPTZ AS ts, NULL::VARCHAR AS model, NULL::VARCHAR AS version, NULL::VARCHAR AS protocol, "
    "NULL::INTEGER AS status, NULL::DOUBLE AS latency_ms, NULL::VARCHAR AS error, NULL::VARCHAR AS user_key, "
    "NULL::VARCHAR AS project, NULL::VARCHAR AS endpoint, NULL::DATE AS date"
)
_EMPTY_FEEDBACK = (
    'NULL::VARCHAR AS request_id, NULL::BIGINT AS "row", NULL::VARCHAR AS "key", NULL::VARCHAR AS label, '
    "NULL::DOUBLE AS label_value, NULL::TIMESTAMPTZ AS ts, NULL::TIMESTAMPTZ AS received_at, "
    "NULL::BIGINT AS seq, NULL::VARCHAR AS sender, NULL::VARCHAR AS project, NULL::VARCHAR AS endpoint, "
    "NULL::DATE AS date"
)


def local_root(url: str, setting: str) -> Path:
    """The directory ``url`` names; only local directories are supported yet."""
    if "://" in url and not url.startswith("file://"):
        raise InvalidArgument(
            f"{setting} is {url!r}: monitoring reads local directories only (object storage is not supported yet)",
            {"field": setting},
        )
    return Path(url.removeprefix("file://")).expanduser()


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _read_manifest(path: Path) -> list[str]:
    names = json.loads(path.read_text())
    return [str(n) for n in names]


def live_files(directory: Path) -> list[Path]:
    """The Parquet files of one partition directory a reader should read (see the module
    docstring): published files, minus those a committed compaction replaced."""
    for _ in range(QUERY_ATTEMPTS):
        try:
            names = {entry.name for entry in os.scandir(directory) if entry.is_file()}
        except FileNotFoundError:
            return []  # deleted by retention meanwhile
        hidden: set[str] = set()
        try:
            for name in names:
                if name.startswith(MANIFEST_PREFIX) and name.endswith(MANIFEST_SUFFIX):
                    compact_id = name[len(MANIFEST_PREFIX) : -len(MANIFEST_SUFFIX)]
                    if f"{COMPACT_PREFIX}{compact_id}.parquet" in names:
                        hidden.update(_read_manifest(directory / name))
        except FileNotFoundError:
            continue  # a compaction finished while we listed: list again
        return [
            directory / n for n in sorted(names) if n.endswith(".parquet") and not n.startswith(".") and n not in hidden
        ]
    return []


@dataclass(frozen=True)
class PartitionInfo:
    """One date directory of a log."""

    log: LogKind
    path: str
    date: date
    files: int
    bytes: int


@dataclass
class CompactionResult:
    partitions: int = 0  # directories compacted
    files_merged: int = 0
    files_written: int = 0
    rows: int = 0
    pending_finished: int = 0  # interrupted compactions completed or undone
    details: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool  # more rows than the limit


class LogStore:
    """Reads (and maintains) the prediction and feedback logs under two local roots."""

    def __init__(
        self,
        predictions: Path,
        feedback: Path,
        *,
        batch_rows: int = BATCH_ROWS,
        sketch_capacity: int = SKETCH_CAPACITY,
        sample_rows: int = SAMPLE_ROWS,
        query_memory_mb: int = QUERY_MEMORY_MB,
    ) -> None:
        self.predictions_root = predictions
        self.feedback_root = feedback
        # How monitor runs read through this store (docs/monitoring.md, "How a run reads its data"):
        self.batch_rows = batch_rows  # rows per record batch read from the log or a reference
        self.sketch_capacity = sketch_capacity  # points per numeric column's sketch
        self.sample_rows = sample_rows  # rows per side sampled for a report's distribution plots
        self.query_memory_mb = query_memory_mb  # DuckDB's memory limit in a run (it spills beyond)

    @classmethod
    def from_settings(cls, settings: Settings) -> LogStore:
        return cls(
            local_root(settings.prediction_log_url, "monitoring.prediction_log_url"),
            local_root(settings.feedback_url, "monitoring.feedback_url"),
            batch_rows=settings.monitoring.batch_rows,
            sketch_capacity=settings.monitoring.sketch_capacity,
            sample_rows=settings.monitoring.report_sample_rows,
            query_memory_mb=settings.monitoring.query_memory_mb,
        )

    # -- listing ---------------------------------------------------------------------
    def _root(self, log: LogKind) -> Path:
        return self.predictions_root if log == "predictions" else self.feedback_root

    def partition_dirs(
        self, log: LogKind, *, project: str | None = None, endpoint: str | None = None, since: date | None = None
    ) -> list[Path]:
        """The date directories of ``log``, optionally of one project/endpoint and from ``since`` on."""
        pattern = f"project={project or '*'}/endpoint={endpoint or '*'}/"
        pattern += "model=*/version=*/date=*" if log == "predictions" else "date=*"
        out = []
        for path in sorted(self._root(log).glob(pattern)):
            match = _DATE.match(path.name)
            if match is None or not path.is_dir():
                continue
            if since is not None and date.fromisoformat(match.group(1)) < since:
                continue
            out.append(path)
        return out

    def files(
        self, log: LogKind, *, project: str | None = None, endpoint: str | None = None, since: date | None = None
    ) -> list[Path]:
        return [
            f for d in self.partition_dirs(log, project=project, endpoint=endpoint, since=since) for f in live_files(d)
        ]

    # -- DuckDB ----------------------------------------------------------------------
    def _source(self, log: LogKind, files: Sequence[Path]) -> str:
        keys = PREDICTION_KEYS if log == "predictions" else FEEDBACK_KEYS
        if not files:
            empty = _EMPTY_PREDICTIONS if log == "predictions" else _EMPTY_FEEDBACK
            return f"SELECT {empty} WHERE false"
        types = ", ".join(f"'{k}': '{'DATE' if k == 'date' else 'VARCHAR'}'" for k in keys)
        listed = ", ".join(_sql_text(str(f)) for f in files)
        return (
            f"SELECT * FROM read_parquet([{listed}], hive_partitioning = true, union_by_name = true, "
            f"hive_types = {{{types}}})"
        )

    def connect(
        self, *, project: str | None = None, endpoint: str | None = None, since: date | None = None
    ) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB connection with the views ``predictions``, ``feedback_raw``
        (every label sent), ``feedback`` (the latest label per prediction key) and
        ``predictions_with_feedback`` (each prediction with its label, if any)."""
        import duckdb

        con = duckdb.connect()
        views: tuple[tuple[str, LogKind], ...] = (("predictions", "predictions"), ("feedback_raw", "feedback"))
        for view, log in views:
            files = self.files(log, project=project, endpoint=endpoint, since=since)
            con.execute(f"CREATE VIEW {view} AS {self._source(log, files)}")
        con.execute(
            "CREATE VIEW feedback AS SELECT * EXCLUDE (_rank) FROM ("
            'SELECT *, row_number() OVER (PARTITION BY project, endpoint, request_id, "row", "key" '
            "ORDER BY received_at DESC, seq DESC) AS _rank FROM feedback_raw) WHERE _rank = 1"
        )
        # One label per prediction: a label for its row, else one for its whole request, else one for
        # its user key (each join matches at most one deduplicated feedback row).
        con.execute(
            "CREATE VIEW predictions_with_feedback AS SELECT p.*, "
            "coalesce(rr.label, rq.label, k.label) AS label, "
            "coalesce(rr.label_value, rq.label_value, k.label_value) AS label_value, "
            "coalesce(rr.ts, rq.ts, k.ts) AS label_ts "
            "FROM predictions p "
            'LEFT JOIN (SELECT * FROM feedback WHERE request_id IS NOT NULL AND "row" IS NOT NULL) rr '
            "ON rr.project = p.project AND rr.endpoint = p.endpoint AND rr.request_id = p.request_id "
            'AND rr."row" = p."row" '
            'LEFT JOIN (SELECT * FROM feedback WHERE request_id IS NOT NULL AND "row" IS NULL) rq '
            "ON rq.project = p.project AND rq.endpoint = p.endpoint AND rq.request_id = p.request_id "
            'LEFT JOIN (SELECT * FROM feedback WHERE "key" IS NOT NULL) k '
            'ON k.project = p.project AND k.endpoint = p.endpoint AND k."key" = p.user_key'
        )
        return con

    def run(
        self,
        work: Any,
        *,
        project: str | None = None,
        endpoint: str | None = None,
        since: date | None = None,
    ) -> Any:
        """``work(connection)`` over fresh views, re-run (over a fresh listing) when a file
        listed was deleted before it was read (compaction or retention ran meanwhile)."""
        import duckdb

        for attempt in range(QUERY_ATTEMPTS):
            con = None
            try:
                con = self.connect(project=project, endpoint=endpoint, since=since)  # binding reads the footers
                return work(con)
            except duckdb.IOException:
                if attempt == QUERY_ATTEMPTS - 1:
                    raise
                time.sleep(0.01 * 2**attempt)
            finally:
                if con is not None:
                    con.close()
        raise AssertionError("unreachable")  # pragma: no cover

    def query(self, sql: str, *, limit: int = 1000, project: str | None = None) -> QueryResult:
        """Run ``sql`` over the views of :meth:`connect`; at most ``limit`` rows come back."""
        import duckdb

        if not 1 <= limit <= MAX_QUERY_ROWS:
            raise InvalidArgument(f"limit must be between 1 and {MAX_QUERY_ROWS}", {"field": "limit"})

        def work(con: duckdb.DuckDBPyConnection) -> QueryResult:
            try:
                cursor = con.execute(sql)
            except duckdb.IOException:
                raise
            except duckdb.Error as exc:
                raise InvalidArgument(f"the query failed: {exc}", {"field": "sql"}) from exc
            description: Any = cursor.description
            if not description:
                return QueryResult(columns=[], rows=[], truncated=False)
            columns = [d[0] for d in description]
            rows = cursor.fetchmany(limit + 1)
            return QueryResult(columns=columns, rows=[list(r) for r in rows[:limit]], truncated=len(rows) > limit)

        result: QueryResult = self.run(work, project=project)
        return result

    # -- retention -------------------------------------------------------------------
    def expired(
        self, older_than: timedelta, *, now: datetime | None = None, project: str | None = None
    ) -> list[PartitionInfo]:
        """Date directories (of both logs) whose whole day ended more than ``older_than`` ago:
        a directory is kept while any of its day is within the window."""
        if older_than <= timedelta(0):
            raise InvalidArgument("older_than must be positive", {"field": "older_than"})
        cutoff = ((now or datetime.now(UTC)) - older_than).date()
        out = []
        for log in LOGS:
            for directory in self.partition_dirs(log, project=project):
                day = date.fromisoformat(directory.name.removeprefix("date="))
                if day < cutoff:
                    files = [p for p in directory.iterdir() if p.is_file()]
                    out.append(
                        PartitionInfo(
                            log=log,
                            path=str(directory),
                            date=day,
                            files=sum(1 for p in files if p.suffix == ".parquet" and not p.name.startswith(".")),
                            bytes=sum(p.stat().st_size for p in files),
                        )
                    )
        return out

    def apply_retention(
        self, older_than: timedelta, *, now: datetime | None = None, project: str | None = None, dry_run: bool = True
    ) -> list[PartitionInfo]:
        """Delete (unless ``dry_run``) the directories :meth:`expired` lists; returns them."""
        partitions = self.expired(older_than, now=now, project=project)
        if not dry_run:
            for info in partitions:
                shutil.rmtree(info.path, ignore_errors=True)
        return partitions

    # -- compaction ------------------------------------------------------------------
    def compact(
        self,
        *,
        project: str | None = None,
        small_bytes: int = SMALL_FILE_BYTES,
        min_files: int = 2,
        dry_run: bool = False,
    ) -> CompactionResult:
        """Merge the files smaller than ``small_bytes`` of every partition directory that has
        at least ``min_files`` of them into one (see the module docstring for how readers
        stay consistent)."""
        if min_files < 2:
            raise InvalidArgument("min_files must be at least 2", {"field": "min_files"})
        result = CompactionResult()
        for log in LOGS:
            for directory in self.partition_dirs(log, project=project):
                _compact_dir(directory, small_bytes, min_files, dry_run, result)
        return result


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    with open(directory / LOCK_NAME, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def stage_table(table: Any, staging: Path) -> None:
    """Write ``table`` (Arrow) as Parquet to the hidden ``staging`` path and flush it to disk."""
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    from shipyard.serving.predlog.sinks import COMPRESSION

    pq.write_table(table, staging, compression=COMPRESSION)
    with open(staging, "rb") as handle:
        os.fsync(handle.fileno())


def publish(staging: Path, final: Path) -> None:
    """Make a staged file visible under its final name: an atomic rename, then made durable."""
    os.replace(staging, final)
    _fsync_dir(final.parent)


def _finish_pending(directory: Path) -> int:
    """Complete compactions that committed (delete what they replaced) and undo those that
    did not (delete their manifest and temporary file); the number handled."""
    handled = 0
    for manifest in directory.glob(f"{MANIFEST_PREFIX}*{MANIFEST_SUFFIX}"):
        compact_id = manifest.name[len(MANIFEST_PREFIX) : -len(MANIFEST_SUFFIX)]
        if (directory / f"{COMPACT_PREFIX}{compact_id}.parquet").exists():
            for name in _read_manifest(manifest):
                (directory / name).unlink(missing_ok=True)
        else:
            (directory / f".{COMPACT_PREFIX}{compact_id}.parquet.tmp").unlink(missing_ok=True)
        manifest.unlink(missing_ok=True)
        handled += 1
    return handled


def _compact_dir(directory: Path, small_bytes: int, min_files: int, dry_run: bool, result: CompactionResult) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with _locked(directory):
        if not dry_run:
            result.pending_finished += _finish_pending(directory)
        small = [f for f in live_files(directory) if f.stat().st_size < small_bytes]
        if len(small) < min_files:
            return
        rows = sum(pq.ParquetFile(f).metadata.num_rows for f in small)
        result.partitions += 1
        result.files_merged += len(small)
        result.files_written += 1
        result.rows += rows
        result.details.append({"path": str(directory), "files": len(small), "rows": rows})
        if dry_run:
            return
        # ParquetFile.read: the file alone (pq.read_table would add the hive keys of its path).
        table = pa.concat_tables([pq.ParquetFile(f).read() for f in small], promote_options="permissive")
        compact_id = uuid.uuid4().hex
        staging = directory / f".{COMPACT_PREFIX}{compact_id}.parquet.tmp"
        stage_table(table, staging)
        manifest = directory / f"{MANIFEST_PREFIX}{compact_id}{MANIFEST_SUFFIX}"
        with open(manifest, "w") as handle:
            json.dump([f.name for f in small], handle)
            handle.flush()
            os.fsync(handle.fileno())
        publish(staging, directory / f"{COMPACT_PREFIX}{compact_id}.parquet")  # the commit point
        _finish_pending(directory)


def parse_age(text: str, field_name: str = "older_than") -> timedelta:
    """``30d``, ``12h``, ``90m`` (days, hours, minutes) as a timedelta."""
    match = re.fullmatch(r"\s*(\d+)\s*([dhm])\s*", text)
    if match is None or int(match.group(1)) <= 0:
        raise InvalidArgument(
            f"{field_name} {text!r} is not a positive age like 30d, 12h or 90m", {"field": field_name}
        )
    amount, unit = int(match.group(1)), match.group(2)
    return (
        timedelta(days=amount) if unit == "d" else timedelta(hours=amount) if unit == "h" else timedelta(minutes=amount)
    )


__all__ = [
    "CompactionResult",
    "LogStore",
    "PartitionInfo",
    "QueryResult",
    "live_files",
    "local_root",
    "parse_age",
    "publish",
    "stage_table",
]
