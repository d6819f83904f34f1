"""How a monitor run reads its window and its reference in bounded memory.

Used by :mod:`shipyard.monitoring.service` (imported inside its functions: this module needs
the monitoring extra — pyarrow, DuckDB, pandas).

- :class:`LogWindow`: one window of an endpoint's prediction log as SQL over the views of a
  :class:`~shipyard.monitoring.logstore.LogStore` connection. Every query of a run filters the
  same rows: a "last N" window is resolved first to the key ``(ts, request_id, row)`` of its
  N-th newest prediction (by counting, see :meth:`LogWindow._newest`), so every query is a
  plain filter that DuckDB streams. Counts are SQL; features come as Arrow record batches of
  ``batch_rows`` rows; duplicates are counted by DuckDB; performance reads the labelled rows
  and the columns it needs only.
- :class:`ReferenceFile`: a reference CSV or Parquet file read in record batches (Parquet:
  ``ParquetFile.iter_batches``; CSV: ``pyarrow.csv.open_csv``, blocks of about ``batch_rows``
  rows), typed as pandas would read it, so a streamed run decides as the in-memory one did.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]

from shipyard.errors import InvalidArgument, Unavailable
from shipyard.monitoring.profiles import DatasetProfile, NumericProfile
from shipyard.monitoring.quality import QualityProfile

FEATURE_PREFIX = "f_"
PREDICTION = "prediction"
SAMPLE_SEED = 7
# What pandas.read_csv reads as missing (its default na_values), so a CSV reference streamed by
# Arrow has the missing values the in-memory path saw.
PANDAS_NA = [
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
]  # fmt: skip
_CSV_ERROR = re.compile(r"In CSV column #(\d+): CSV conversion error to (\w+)")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The order of predictions: by ts, ties broken by request and row.
_KEY = "epoch_us(ts), coalesce(request_id, ''), coalesce(\"row\", -1)"


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@contextlib.contextmanager
def bounded(con: Any, memory_mb: int) -> Iterator[None]:
    """Limit what DuckDB holds on ``con`` to ``memory_mb``; its operators that need more (the
    feedback join, the duplicate count, sorting the labelled rows) spill to a private temporary
    directory, removed afterwards. A run that cannot fit even so fails with :class:`Unavailable`."""
    with tempfile.TemporaryDirectory(prefix="shipyard-monitor-", ignore_cleanup_errors=True) as spill:
        con.sql(f"SET memory_limit = '{int(memory_mb)}MiB'")
        con.sql(f"SET temp_directory = '{spill}'")
        con.sql("SET preserve_insertion_order = false")  # no read of a run depends on the order of rows
        con.sql("SET enable_progress_bar = false")
        try:
            yield
        except duckdb.OutOfMemoryException as exc:
            raise Unavailable(
                f"the monitor run needs more memory than DuckDB may use (monitoring.query_memory_mb = {memory_mb}): "
                + str(exc).splitlines()[0],
                {"setting": "monitoring.query_memory_mb"},
            ) from exc


def _reader(relation: Any, rows: int) -> Any:
    """A RecordBatchReader over a DuckDB relation: DuckDB streams it (a DB-API result, by contrast,
    is materialised first)."""
    to_reader = getattr(relation, "to_arrow_reader", None)
    if to_reader is not None:
        return to_reader(rows)
    return relation.fetch_record_batch(rows)  # duckdb < 2


class LogWindow:
    """The successful predictions of ``endpoint`` in ``window`` (a span, or the newest N) ending
    at ``now``, over the views of one LogStore connection."""

    def __init__(
        self, con: Any, project: str, endpoint: str, window: timedelta | int, now: datetime, batch_rows: int
    ) -> None:
        self.con = con
        self.batch_rows = batch_rows
        base = "project = ? AND endpoint = ? AND error IS NULL AND rows > 0 AND ts <= ?"
        params: list[Any] = [project, endpoint, now]
        if isinstance(window, timedelta):
            self.start: datetime | None = now - window
            self.where, self.params = f"{base} AND ts > ?", [*params, self.start]
        else:
            self.start = None
            self.where, self.params = self._newest(base, params, int(window))
        sql = f"SELECT count(*), count(label), epoch_us(min(ts)) FROM predictions_with_feedback WHERE {self.where}"
        rows, labelled, first = con.sql(sql, params=self.params).fetchall()[0]
        self.rows, self.labelled = int(rows), int(labelled)
        if self.start is None and first is not None:
            self.start = _EPOCH + timedelta(microseconds=int(first))
        self.names: list[str] = list(con.sql("SELECT * FROM predictions_with_feedback LIMIT 0").columns)

    def _count(self, where: str, params: list[Any], thresholds: Sequence[int]) -> list[int]:
        """Rows of ``where`` with ``epoch_us(ts)`` at or above each threshold (one scan)."""
        counts = ", ".join("count(*) FILTER (WHERE epoch_us(ts) >= ?)" for _ in thresholds)
        sql = f"SELECT {counts} FROM predictions WHERE {where}"
        return [int(c) for c in self.con.sql(sql, params=[*thresholds, *params]).fetchall()[0]]

    def _newest(self, base: str, params: list[Any], n: int) -> tuple[str, list[Any]]:
        """The predicate of the newest ``n`` rows of ``base``, in memory bounded by the rows of
        one timestamp: a top-N would hold N keys in DuckDB, so the N-th newest timestamp is found
        by counting instead (a 16-way search over microseconds, about a dozen scans of the ``ts``
        column), then the ties at that timestamp are ordered by request and row."""
        sql = f"SELECT count(*), epoch_us(min(ts)), epoch_us(max(ts)) FROM predictions WHERE {base}"
        total, low, high = self.con.sql(sql, params=params).fetchall()[0]
        if int(total) <= n:
            return base, params
        low, high = int(low), int(high)  # invariant: count(ts >= low) >= n > count(ts > high)
        while low < high:
            step = max(1, (high - low) // 16)
            thresholds = list(range(low + step, high + 1, step))
            counts = self._count(base, params, thresholds)
            reached = [t for t, c in zip(thresholds, counts, strict=True) if c >= n]
            if reached:
                low = reached[-1]
            beyond = [t for t, c in zip(thresholds, counts, strict=True) if c < n]
            if beyond:
                high = beyond[0] - 1
        newer = self._count(base, params, [low + 1])[0]  # rows after the N-th newest timestamp
        sql = (
            f"SELECT coalesce(request_id, ''), coalesce(\"row\", -1) FROM predictions "
            f"WHERE {base} AND epoch_us(ts) = ? ORDER BY 1 DESC, 2 DESC LIMIT 1 OFFSET ?"
        )
        request, row = self.con.sql(sql, params=[*params, low, n - newer - 1]).fetchall()[0]
        where = (
            f"{base} AND (epoch_us(ts) > ? OR (epoch_us(ts) = ? "
            f"AND (coalesce(request_id, ''), coalesce(\"row\", -1)) >= (?, ?)))"
        )
        return where, [*params, low, low, request, row]

    def features(self) -> list[tuple[str, str]]:
        """``(log column, name)`` of the features (``f_age`` -> ``age``) and the prediction."""
        out = [(c, c[len(FEATURE_PREFIX) :]) for c in self.names if c.startswith(FEATURE_PREFIX)]
        return out + ([(PREDICTION, PREDICTION)] if PREDICTION in self.names else [])

    def _select(self, columns: Sequence[tuple[str, str]]) -> str:
        return ", ".join(f"{quote(source)} AS {quote(name)}" for source, name in columns)

    def _sources(self, columns: Sequence[tuple[str, str]]) -> str:
        return ", ".join(quote(source) for source, _ in columns)

    def batches(self, columns: Sequence[tuple[str, str]]) -> Iterator[Any]:
        """The window's ``columns`` (``(log column, name)``) as Arrow record batches of at most
        ``batch_rows`` rows, in no particular order (an ORDER BY would make DuckDB sort the window)."""
        sql = f"SELECT {self._select(columns)} FROM predictions WHERE {self.where}"
        yield from _reader(self.con.sql(sql, params=self.params), self.batch_rows)

    def duplicates(self, columns: Sequence[tuple[str, str]]) -> int:
        """Rows repeating an earlier row over ``columns``: rows minus distinct rows, counted by DuckDB.

        DuckDB rather than Python: hashing rows batch by batch in Python would hold a hash per
        distinct row (as many as the window's rows) outside any limit, while DuckDB's hash
        aggregate keeps to ``monitoring.query_memory_mb`` and spills beyond it. It counts distinct
        64-bit hashes of the rows (column order and nulls included) rather than distinct rows, so
        its table holds 8 bytes per row instead of the rows themselves; two different rows share
        a hash with probability about rows² / 2⁶⁵ (3·10⁻⁶ for ten million rows)."""
        return self.rows - _distinct(
            self.con, columns_sql=self._sources(columns), source="predictions", where=self.where, params=self.params
        )

    def labelled_frame(self, columns: Sequence[str]) -> Any:
        """The labelled rows with ``columns`` only (a DataFrame, oldest first): memory proportional
        to the labelled rows of the window."""
        select = ", ".join(quote(c) for c in columns)
        sql = f"SELECT {select} FROM predictions_with_feedback WHERE {self.where} AND label IS NOT NULL ORDER BY {_KEY}"
        return self.con.sql(sql, params=self.params).df()

    def top_model_version(self) -> tuple[str, str] | None:
        """The model version that answered most of the window."""
        sql = (
            f"SELECT model, version, count(*) AS n FROM predictions WHERE {self.where} "
            "GROUP BY model, version ORDER BY n DESC, model, version LIMIT 1"
        )
        found = self.con.sql(sql, params=self.params).fetchall()
        return (str(found[0][0]), str(found[0][1])) if found else None

    def sample(self, columns: Sequence[tuple[str, str]], rows: int) -> Any:
        """At most ``rows`` rows of the window, a reservoir sample (a DataFrame)."""
        sql = (
            f"SELECT * FROM (SELECT {self._select(columns)} FROM predictions WHERE {self.where}) "
            f"USING SAMPLE reservoir({int(rows)} ROWS) REPEATABLE ({SAMPLE_SEED})"
        )
        return self.con.sql(sql, params=self.params).df()


# --- the reference ------------------------------------------------------------------------


def _unreadable(uri: str, what: str, why: str) -> InvalidArgument:
    return InvalidArgument(f"{what} at {uri!r} cannot be read: {why}", {"field": "reference"})


class ReferenceFile:
    """A reference dataset file (CSV or Parquet) read in record batches."""

    def __init__(self, uri: str, what: str, batch_rows: int) -> None:
        path = Path(uri.removeprefix("file://")).expanduser()
        if not uri or "://" in uri.removeprefix("file://") or not path.is_file():
            raise InvalidArgument(
                f"{what} is at {uri!r}, which is not a readable local file (a monitor reads CSV or Parquet files)",
                {"field": "reference"},
            )
        suffix = path.suffix.lower()
        if suffix not in (".parquet", ".pq", ".csv", ".txt"):
            raise InvalidArgument(f"{what} at {uri!r} is neither .parquet nor .csv", {"field": "reference"})
        self.uri, self.what, self.path, self.batch_rows = uri, what, path, batch_rows
        self.csv = suffix in (".csv", ".txt")
        self.nullable_ints: set[str] = set()  # integer columns pandas reads as nullable integers
        try:
            if self.csv:
                self._types: dict[str, Any] = {}
                schema = self._open_csv(None).schema
                temporal = [f.name for f in schema if pa.types.is_temporal(f.type)]
                self._types = {name: pa.string() for name in temporal}  # pandas keeps dates as text
                self.names = list(schema.names)
            else:
                import pyarrow.parquet as pq  # type: ignore[import-untyped]

                self._parquet = pq.ParquetFile(path)
                metadata = self._parquet.schema_arrow.pandas_metadata or {}
                index = {c for c in metadata.get("index_columns", []) if isinstance(c, str)}
                self.names = [n for n in self._parquet.schema_arrow.names if n not in index]
                for column in metadata.get("columns", []):
                    if str(column.get("numpy_type", "")).startswith(("Int", "UInt")):
                        self.nullable_ints.add(str(column.get("name")))
        except (pa.ArrowException, OSError) as exc:
            raise _unreadable(uri, what, str(exc)) from exc

    def _open_csv(self, columns: Sequence[str] | None) -> Any:
        import pyarrow.csv as pcsv  # type: ignore[import-untyped]

        block = min(64 << 20, max(1 << 16, self.batch_rows * 128))  # bytes: about batch_rows short rows
        convert = pcsv.ConvertOptions(
            column_types=self._types,
            null_values=PANDAS_NA,
            strings_can_be_null=True,
            include_columns=list(columns) if columns is not None else None,
        )
        return pcsv.open_csv(self.path, read_options=pcsv.ReadOptions(block_size=block), convert_options=convert)

    def _batches(self, columns: Sequence[str]) -> Iterator[Any]:
        if self.csv:
            yield from self._open_csv(columns)
        else:
            yield from self._parquet.iter_batches(batch_size=self.batch_rows, columns=list(columns))

    def _widen(self, exc: Exception) -> bool:
        """After a CSV conversion error (Arrow typed a column from the first block; a later value
        does not fit): read that column as float64 (from integers) or text, as pandas would."""
        match = _CSV_ERROR.search(str(exc))
        if match is None or not self.csv:
            return False
        name, kind = self.names[int(match.group(1))], match.group(2)
        if pa.types.is_string(self._types.get(name, pa.null())):
            return False
        from_integers = kind.startswith(("int", "uint")) and name not in self._types
        self._types[name] = pa.float64() if from_integers else pa.string()
        return True

    def scan(self, columns: Sequence[str], start: Callable[[], Sequence[Any]]) -> tuple[int, Sequence[Any]]:
        """Feed every batch of ``columns`` to the accumulators ``start()`` makes (each has
        ``add(batch)``); the row count and the accumulators. A CSV column whose type turns out
        wider than its first block showed is widened and the scan started again."""
        if not self.csv and not start():  # nothing to accumulate: the row count is in the footer
            return int(self._parquet.metadata.num_rows), []
        for _ in range(2 * len(self.names) + 1):
            accumulators, rows = start(), 0
            try:
                for batch in self._batches(columns):
                    rows += batch.num_rows
                    for accumulator in accumulators:
                        accumulator.add(batch)
                return rows, accumulators
            except pa.ArrowInvalid as exc:
                if not self._widen(exc):
                    raise _unreadable(self.uri, self.what, str(exc)) from exc
            except (pa.ArrowException, OSError) as exc:
                raise _unreadable(self.uri, self.what, str(exc)) from exc
        raise _unreadable(self.uri, self.what, "its column types keep changing")  # pragma: no cover

    def _reader(self, columns: Sequence[str]) -> Any:
        """A RecordBatchReader over the batches of ``columns`` (for DuckDB to scan as it streams)."""
        batches = self._batches(columns)
        first = next(batches, None)
        if first is None:
            return pa.RecordBatchReader.from_batches(pa.schema([]), iter(()))
        return pa.RecordBatchReader.from_batches(first.schema, _chain(first, batches))

    def duplicates(self, con: Any, rows: int, columns: Sequence[str]) -> int:
        """Rows repeating an earlier row over ``columns``: ``rows`` minus the distinct rows DuckDB
        counts over the batches (as :meth:`LogWindow.duplicates` does)."""
        name = "_shipyard_reference"
        con.register(name, self._reader(columns))
        try:
            return rows - _distinct(con, columns_sql=", ".join(quote(c) for c in columns), source=name)
        finally:
            con.unregister(name)

    def sample(self, con: Any, columns: Sequence[str], rows: int) -> Any:
        """At most ``rows`` rows of the reference, a reservoir sample (a DataFrame)."""
        name = "_shipyard_reference"
        select = ", ".join(quote(c) for c in columns)
        con.register(name, self._reader(columns))
        try:
            sql = f"SELECT {select} FROM {name} USING SAMPLE reservoir({int(rows)} ROWS) REPEATABLE ({SAMPLE_SEED})"
            return con.sql(sql).df()
        finally:
            con.unregister(name)


def _distinct(con: Any, *, columns_sql: str, source: str, where: str = "true", params: Sequence[Any] = ()) -> int:
    """Distinct rows of ``columns_sql`` (see :meth:`LogWindow.duplicates`)."""
    sql = f"SELECT count(DISTINCT hash({columns_sql})) FROM {source} WHERE {where}"
    return int(con.sql(sql, params=list(params)).fetchall()[0][0])


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


# --- as the in-memory path read them ------------------------------------------------------


def as_pandas_read(reference: ReferenceFile, profile: DatasetProfile) -> DatasetProfile:
    """The reference's profiles with each integer column that has missing values as floats:
    pandas reads such a column (from Parquet, unless stored as a nullable integer, or from CSV)
    as ``float64``, and the kind of a column (an integer with few values is categorical, a
    float numeric) follows its storage type."""
    columns = {
        name: replace(p, family="float")
        if isinstance(p, NumericProfile) and p.family == "int" and p.missing and name not in reference.nullable_ints
        else p
        for name, p in profile.columns.items()
    }
    return DatasetProfile(columns=columns, rows=profile.rows)


def quality_as_pandas_read(reference: ReferenceFile, profile: QualityProfile) -> QualityProfile:
    """The same for the reference's quality facts (its types, hence the rules learned)."""
    facts = {name: f if name in reference.nullable_ints else f.as_floats() for name, f in profile.facts.items()}
    return replace(profile, facts=facts)


__all__ = ["LogWindow", "ReferenceFile", "as_pandas_read", "bounded", "quality_as_pandas_read", "quote"]
