"""Predicting one chunk: in the job's own process (one worker) or in a pool process.

A pool process loads the model once (:func:`init_worker`) and then handles chunk after
chunk (:func:`run_chunk`): cast CSV text, call ``LoadedModel.predict``, turn the result
into columns, and write ``row_index`` + key columns + prediction columns as the chunk's
part file (written to a temporary name, fsynced, renamed). Only a small
:class:`ChunkResult` travels back.

When the model raises on a chunk, the chunk is split in halves and each half predicted
again, recursively, so the failure is narrowed down to the rows that cause it (at most
:data:`BISECT_CALLS` extra calls per chunk; past that, the still-failing ranges are
reported as they are). Rows outside the failing ranges keep their predictions.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from shipyard.batch.predlog import BatchLog, BatchLogWriter, Segment, prepared
from shipyard.batch.schemas import FailedRange
from shipyard.batch.sources import cast_csv_columns
from shipyard.errors import InvalidArgument, ShipyardError
from shipyard.models import LoadedModel, load_model

ROW_INDEX = "row_index"
PREDICTION = "prediction"
BISECT_CALLS = 64
ERROR_CHARS = 500


class OutputColumnClash(InvalidArgument):
    """The model's output names a column the output already has: a job error, not a row error."""


@dataclass(frozen=True)
class WorkerPlan:
    """Everything a worker needs, picklable."""

    model_path: str
    keys: tuple[str, ...]
    features: tuple[str, ...] | None  # columns for the model; None: every non-key column
    output_names: tuple[str, ...] | None  # the signature's output column names, if any
    parts_dir: str
    verify_model: bool = False  # the job verified the files before starting workers
    prediction_log: BatchLog | None = None  # log every predicted row (shipyard.batch.predlog)


@dataclass(frozen=True)
class ChunkTask:
    index: int
    first_row: int
    data: Any  # pa.Table in-process; Arrow IPC stream bytes for a pool worker
    csv_types: dict[str, Any] | None = None

    @classmethod
    def encoded(cls, index: int, first_row: int, table: Any, csv_types: dict[str, Any] | None) -> ChunkTask:
        """A task whose table is Arrow IPC bytes: a slice pickles with its whole parent
        buffer, IPC writes only the slice's rows."""
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return cls(index, first_row, sink.getvalue().to_pybytes(), csv_types)

    def table(self) -> Any:
        if isinstance(self.data, bytes):
            return pa.ipc.open_stream(pa.py_buffer(self.data)).read_all()
        return self.data


@dataclass(frozen=True)
class ChunkResult:
    index: int
    first_row: int
    rows: int
    rows_out: int
    part: str | None  # file name under the parts directory; None when no row succeeded
    part_bytes: int
    seconds: float
    failures: list[FailedRange] = field(default_factory=list)


def part_name(index: int) -> str:
    return f"chunk-{index:08d}.parquet"


def fsync_path(path: Path) -> None:
    """Flush a file's (or a directory's) contents to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def describe_error(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, ShipyardError) else f"{type(exc).__name__}: {exc}"
    text = " ".join(text.split())
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 1] + "…"


def prediction_columns(output: Any, rows: int, names: Sequence[str] | None) -> list[tuple[str, Any]]:
    """Name and Arrow array of each prediction column: ``prediction`` for one value per
    row, the DataFrame's or the signature's column names (else ``prediction_<i>``) for several."""
    if isinstance(output, pd.DataFrame):
        table = pa.Table.from_pandas(output, preserve_index=False)
        columns = [(str(name), table.column(i)) for i, name in enumerate(output.columns)]
        count = table.num_rows
    else:
        array = np.asarray(output)
        count = array.shape[0] if array.ndim else 0
        if array.ndim == 0:
            raise ValueError("the model returned a single value, not one per row")
        if array.ndim == 1 or (array.ndim == 2 and array.shape[1] == 1):
            columns = [(PREDICTION, pa.array(array.reshape(count)))]
        elif array.ndim == 2:
            width = array.shape[1]
            labels = (
                list(names)
                if names is not None and len(names) == width
                else [f"{PREDICTION}_{i}" for i in range(width)]
            )
            columns = [(label, pa.array(array[:, i])) for i, label in enumerate(labels)]
        else:
            flat = array.reshape(count, -1)
            values = pa.array(flat.reshape(-1))
            columns = [(PREDICTION, pa.FixedSizeListArray.from_arrays(values, flat.shape[1]))]
    if count != rows:
        raise ValueError(f"the model returned {count} predictions for {rows} rows")
    return columns


class ChunkPredictor:
    """Predicts chunks with one loaded model and writes their part files."""

    def __init__(self, plan: WorkerPlan, model: LoadedModel | None = None) -> None:
        self.plan = plan
        self.model = model if model is not None else load_model(plan.model_path, verify=plan.verify_model)
        self.parts = Path(plan.parts_dir)
        self.log = BatchLogWriter(plan.prediction_log) if plan.prediction_log is not None else None
        self._logged: list[Segment] = []  # the current chunk's, when logging

    def _features(self, table: Any, csv_types: dict[str, Any] | None) -> Any:
        if self.plan.features is not None:
            wanted = [name for name in self.plan.features if name in table.column_names]
        else:
            wanted = [name for name in table.column_names if name not in self.plan.keys]
        features = table.select(wanted)
        if csv_types is not None:
            features = cast_csv_columns(features, csv_types)
        return features.to_pandas()

    def _predict(self, table: Any, csv_types: dict[str, Any] | None, offset: int = 0) -> list[tuple[str, Any]]:
        features = self._features(table, csv_types)
        try:
            output = self.model.predict(features)
            columns = prediction_columns(output, table.num_rows, self.plan.output_names)
        except Exception as exc:
            if self.log is not None:
                segment = Segment(offset, table.num_rows, None, error=describe_error(exc), status=_status(exc))
                self._logged.append(segment)
            raise
        if self.log is not None:
            self._logged.append(Segment(offset, table.num_rows, prepared(self.model.signature, features), output))
        return columns

    def _segments(self, table: Any, task: ChunkTask) -> tuple[list[tuple[int, int, Any]], list[FailedRange]]:
        """(offset, rows, prediction columns) of every range that predicted, and the failures."""
        done: list[tuple[int, int, Any]] = []
        failing: deque[tuple[int, int, str]] = deque()
        try:
            done.append((0, table.num_rows, self._predict(table, task.csv_types)))
        except MemoryError:
            raise
        except Exception as exc:  # whatever the model raises is the rows' failure
            failing.append((0, table.num_rows, describe_error(exc)))
        failures: list[tuple[int, int, str]] = []
        calls = 0
        while failing:
            start, stop, error = failing.popleft()
            if stop - start == 1 or calls >= BISECT_CALLS:
                failures.append((start, stop, error))
                continue
            middle = (start + stop) // 2
            for low, high in ((start, middle), (middle, stop)):
                calls += 1
                try:
                    done.append((low, high - low, self._predict(table.slice(low, high - low), task.csv_types, low)))
                except MemoryError:
                    raise
                except Exception as exc:
                    failing.append((low, high, describe_error(exc)))
        return sorted(done, key=lambda d: d[0]), _merge(failures, task.first_row)

    def _output(self, table: Any, task: ChunkTask, segments: list[tuple[int, int, Any]]) -> Any:
        keys = table.select(list(self.plan.keys))
        if task.csv_types is not None:
            keys = cast_csv_columns(keys, task.csv_types)
        pieces = []
        for offset, rows, predictions in segments:
            names = [ROW_INDEX, *self.plan.keys]
            clash = sorted({name for name, _ in predictions} & set(names))
            if clash:
                raise OutputColumnClash(
                    f"the model's output column '{clash[0]}' has the name of a key or row_index column; "
                    "choose other --key columns",
                    {"field": "key", "column": clash[0]},
                )
            start = task.first_row + offset
            arrays = [pa.array(np.arange(start, start + rows, dtype=np.int64))]
            arrays += [keys.column(key).slice(offset, rows) for key in self.plan.keys]
            pieces.append(
                pa.table(
                    [*arrays, *(values for _, values in predictions)],
                    names=[*names, *(name for name, _ in predictions)],
                )
            )
        return pa.concat_tables(pieces, promote_options="permissive")

    def __call__(self, task: ChunkTask) -> ChunkResult:
        started = time.perf_counter()
        started_at = time.time()
        table = task.table()
        rows_in = table.num_rows
        self._logged = []
        segments, failures = self._segments(table, task)
        part: str | None = None
        size = 0
        rows_out = sum(rows for _, rows, _ in segments)
        if segments:
            part = part_name(task.index)
            target = self.parts / part
            temporary = self.parts / f".{part}.{os.getpid()}.tmp"
            try:
                pq.write_table(
                    self._output(table, task, segments), temporary, compression="lz4", write_statistics=False
                )
                fsync_path(temporary)
                temporary.replace(target)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    temporary.unlink()
            fsync_path(self.parts)
            size = target.stat().st_size
        if self.log is not None:
            self.log.write(task.first_row, started_at, _final(self._logged, failures, task.first_row))
            self._logged = []
        del table, segments
        # Hand freed chunk buffers back to the OS: mimalloc otherwise keeps ~100 MB of them.
        pa.default_memory_pool().release_unused()
        return ChunkResult(
            index=task.index,
            first_row=task.first_row,
            rows=rows_in,
            rows_out=rows_out,
            part=part,
            part_bytes=size,
            seconds=time.perf_counter() - started,
            failures=failures,
        )


def _status(exc: BaseException) -> int:
    """The status the server answers for a model call that raised ``exc`` (400: bad input, else 500)."""
    from shipyard.serving.errors import http_status

    return http_status(exc) if isinstance(exc, ShipyardError) else 500


def _final(logged: list[Segment], failures: list[FailedRange], first_row: int) -> list[Segment]:
    """The segments to log: every predicted one, and each failing range as reported (the
    bisection also tried ranges that it then split further: only the final ones count)."""
    statuses = {s.error: s.status for s in logged if s.error is not None}
    final = [s for s in logged if s.error is None]
    for failure in failures:
        offset = failure.first_row - first_row
        final.append(Segment(offset, failure.rows, None, error=failure.error, status=statuses.get(failure.error, 500)))
    return sorted(final, key=lambda s: s.offset)


def _merge(failures: list[tuple[int, int, str]], first_row: int) -> list[FailedRange]:
    """Adjacent failing ranges with the same error become one; offsets become input rows."""
    merged: list[list[Any]] = []
    for start, stop, error in sorted(failures):
        if merged and merged[-1][1] == start and merged[-1][2] == error:
            merged[-1][1] = stop
        else:
            merged.append([start, stop, error])
    return [
        FailedRange(first_row=first_row + start, last_row=first_row + stop - 1, rows=stop - start, error=error)
        for start, stop, error in merged
    ]


# -- pool processes -------------------------------------------------------------------
_predictor: ChunkPredictor | None = None
_init_error: ShipyardError | None = None


def _exit_with_job() -> None:
    """A pool process whose job was killed (SIGKILL leaves no chance to stop the pool)
    exits instead of lingering. Its "parent sentinel" (a pipe whose other end only the
    job process holds) reaches end-of-file when the job process dies; with a fork server
    the OS parent is the server, which outlives the job, so the parent pid would not tell."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    wait([parent.sentinel])
    os._exit(1)


def init_worker(plan: WorkerPlan) -> None:
    """Pool initializer: one model per process; BLAS/OpenMP kept to one thread per process
    so N workers use N cores, not N*N threads. A failure is kept and reported by
    :func:`run_chunk` (an initializer that raises only breaks the pool, without the reason)."""
    global _predictor, _init_error
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the job's to handle: it stops the pool
    threading.Thread(target=_exit_with_job, daemon=True).start()
    with contextlib.suppress(ImportError):
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

        threadpool_limits(1)
    pa.set_cpu_count(1)
    try:
        _predictor = ChunkPredictor(plan)
    except ShipyardError as exc:
        _init_error = exc
    except Exception as exc:
        _init_error = InvalidArgument(f"the model does not load in a worker process: {describe_error(exc)}")


def warm_up() -> int:
    """A no-op task: submitting one per worker starts the processes (and model loads) early."""
    return os.getpid()


def run_chunk(task: ChunkTask) -> ChunkResult:
    if _predictor is None:
        raise _init_error or InvalidArgument("worker not initialised")
    return _predictor(task)
