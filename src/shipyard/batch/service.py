"""Running a batch job: plan the chunks, predict them in a pool, publish, record."""

from __future__ import annotations

import contextlib
import dataclasses
import getpass
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing import get_all_start_methods, get_context
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import pyarrow as pa  # type: ignore[import-untyped]

from shipyard.artifacts.digests import file_digest
from shipyard.batch import checkpoint as ckpt
from shipyard.batch import sources, worker
from shipyard.batch.model_source import ModelSource
from shipyard.batch.predlog import BatchLog
from shipyard.batch.schemas import (
    BatchJobRecord,
    ChunkCounts,
    FailedRange,
    InputInfo,
    JobError,
    JobOptions,
    JobStatus,
    ModelInfo,
    OutputInfo,
    RowCounts,
)
from shipyard.batch.worker import (
    ROW_INDEX,
    ChunkPredictor,
    ChunkResult,
    ChunkTask,
    WorkerPlan,
    init_worker,
    run_chunk,
    warm_up,
)
from shipyard.errors import AlreadyExists, InternalError, InvalidArgument, ShipyardError, ValidationFailed
from shipyard.models import MANIFEST_FILE, ColumnSpec, ModelManifest, verify_model
from shipyard.models.manifest import MLMODEL_FILE
from shipyard.serving.model import content_version, directory_name
from shipyard.serving.settings import PredictionLogSettings
from shipyard.settings import ArtifactSettings

DEFAULT_CHUNK_ROWS = 100_000
MAX_RECORDED_FAILURES = 1_000
JOURNAL_FILE = "batch-jobs.jsonl"

P = ParamSpec("P")
T = TypeVar("T")


class ProgressListener:
    """What a job reports while it runs; the CLI draws a progress bar from it. No-ops here."""

    def stage(self, description: str) -> None:
        """A new phase: "hashing input", "predicting", "writing output"."""

    def started(self, total_rows: int | None, done_rows: int) -> None:
        """Prediction starts; ``done_rows`` were finished by an earlier run (--resume)."""

    def advanced(self, rows: int) -> None:
        """A chunk of ``rows`` input rows is finished."""

    def failed(self, failure: FailedRange) -> None:
        """Rows the model could not predict."""


@dataclass
class BatchJob:
    """A finished (or failed) job. ``error`` is set when ``record.status`` is "failed"."""

    record: BatchJobRecord
    error: ShipyardError | None = None

    def raise_for_status(self) -> None:
        if self.error is not None:
            raise self.error


def default_workers() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class _InlineExecutor(Executor):
    """Runs each task at once in this process: one worker needs no pool."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future


@dataclass(frozen=True)
class _Plan:
    files: list[sources.InputFile]
    schemas: list[sources.FileSchema]
    columns: dict[int, list[str] | None]
    worker: WorkerPlan
    empty_schema: Any  # pa.Schema of an output without predictions


def _manifest_sha256(path: Path) -> str:
    for name in (MANIFEST_FILE, MLMODEL_FILE):
        if (path / name).is_file():
            return file_digest(path / name)[0]
    raise InvalidArgument(f"'{path}' has no {MANIFEST_FILE}", {"field": "model"})


def _check_options(keys: Sequence[str], chunk_rows: int, workers: int) -> None:
    if chunk_rows < 1:
        raise InvalidArgument("--chunk-rows must be at least 1", {"field": "chunk_rows"})
    if workers < 1:
        raise InvalidArgument("--workers must be at least 1", {"field": "workers"})
    if len(set(keys)) != len(keys):
        raise InvalidArgument("a --key column is named twice", {"field": "key"})
    if ROW_INDEX in keys:
        raise InvalidArgument(f"'{ROW_INDEX}' is always in the output; it cannot be a --key", {"field": "key"})


def _plan(
    files: list[sources.InputFile], manifest: ModelManifest, model_path: Path, keys: Sequence[str], parts: Path
) -> _Plan:
    schemas = [sources.read_schema(item) for item in files]
    signature = manifest.signature
    column_specs = (
        [s for s in signature.inputs if isinstance(s, ColumnSpec)] if signature and signature.takes_columns else None
    )
    columns: dict[int, list[str] | None] = {}
    for position, (item, schema) in enumerate(zip(files, schemas, strict=True)):
        present = set(schema.columns)
        if missing := [key for key in keys if key not in present]:
            raise InvalidArgument(
                f"input file '{item.name}' has no key column '{missing[0]}'", {"field": "key", "path": item.name}
            )
        if column_specs is None:
            columns[position] = None
            continue
        needed = [s.name for s in column_specs if not s.optional and s.name not in present]
        if needed:
            raise InvalidArgument(
                f"input file '{item.name}' has no column '{needed[0]}', which the model takes",
                {"field": "input", "path": item.name, "missing": needed},
            )
        wanted = set(keys) | {s.name for s in column_specs}
        columns[position] = [name for name in schema.columns if name in wanted]
    outputs = signature.outputs if signature is not None else None
    output_names = (
        tuple(s.name for s in outputs if isinstance(s, ColumnSpec))
        if outputs and all(isinstance(s, ColumnSpec) for s in outputs)
        else None
    )
    first = schemas[0]
    key_fields = [pa.field(key, (first.csv_types or {}).get(key, first.schema.field(key).type)) for key in keys]
    return _Plan(
        files=files,
        schemas=schemas,
        columns=columns,
        worker=WorkerPlan(
            model_path=str(model_path),
            keys=tuple(keys),
            features=tuple(s.name for s in column_specs) if column_specs is not None else None,
            output_names=output_names,
            parts_dir=str(parts),
        ),
        empty_schema=pa.schema([pa.field(ROW_INDEX, pa.int64()), *key_fields]),
    )


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "local"


def _write_record(paths: ckpt.JobPaths, record: BatchJobRecord, journal: Path | None) -> None:
    """``<output>.job.json`` (replaced atomically) and one line in the journal."""
    body = record.model_dump(mode="json")
    temporary = paths.record.with_name(paths.record.name + ".tmp")
    temporary.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    temporary.replace(paths.record)
    if journal is None:
        return
    event = {
        "at": body["finished_at"],
        "actor": _local_user(),
        "action": f"batch_job.{record.status}",
        "object_type": "batch_job",
        "object_id": record.job_id,
        "details": body,
    }
    journal.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(event, separators=(",", ":")) + "\n").encode()
    fd = os.open(journal, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line)  # one write with O_APPEND: concurrent jobs' lines do not interleave
    finally:
        os.close(fd)


def _pool_context() -> BaseContext:
    """Workers are forked from a fork server that has imported the worker module (numpy,
    pyarrow, pandas, Shipyard) once, not from this process, which may hold threads and
    connections that do not survive a fork; and not spawned, which would import everything
    again in every worker. The server outlives the job, so later jobs in the same process
    start their workers in a fraction of a second. Where there is no fork server
    (Windows), workers are spawned."""
    if "forkserver" not in get_all_start_methods():
        return get_context("spawn")
    context = get_context("forkserver")
    context.set_forkserver_preload([worker.__name__])
    return context


@dataclass(frozen=True)
class _Workers:
    executor: Executor
    predict: Callable[[ChunkTask], ChunkResult]
    count: int


@contextlib.contextmanager
def _workers(plan: WorkerPlan, count: int) -> Iterator[_Workers]:
    """The pool, started at once so that its processes import and load the model while
    the job hashes its input; one worker is this process."""
    if count == 1:
        executor: Executor = _InlineExecutor()
        predict: Callable[[ChunkTask], ChunkResult] = ChunkPredictor(plan)
    else:
        executor = ProcessPoolExecutor(
            max_workers=count, mp_context=_pool_context(), initializer=init_worker, initargs=(plan,)
        )
        for _ in range(count):  # each submit starts one more process
            executor.submit(warm_up)
        predict = run_chunk
    try:
        yield _Workers(executor, predict, count)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


class _Run:
    """The prediction phase of one job: chunks in, part files and checkpoint lines out."""

    def __init__(
        self,
        plan: _Plan,
        checkpoint: ckpt.Checkpoint,
        workers: _Workers,
        *,
        chunk_rows: int,
        skip_errors: bool,
        listener: ProgressListener,
    ) -> None:
        self.plan = plan
        self.checkpoint = checkpoint
        self.pool = workers
        self.chunk_rows = chunk_rows
        self.skip_errors = skip_errors
        self.listener = listener
        # Chunks with failed rows are redone unless failures are allowed this time.
        self.reused = {i: e for i, e in checkpoint.entries.items() if skip_errors or not e.failures}
        self.computed: dict[int, ckpt.ChunkEntry] = {}
        self.failures: list[FailedRange] = []

    def _tasks(self) -> Iterator[ChunkTask]:
        inline = self.pool.count == 1
        for chunk in sources.iter_chunks(self.plan.files, self.plan.schemas, self.chunk_rows, self.plan.columns):
            if chunk.index in self.reused:
                continue
            if inline:
                yield ChunkTask(chunk.index, chunk.first_row, chunk.table, chunk.csv_types)
            else:
                yield ChunkTask.encoded(chunk.index, chunk.first_row, chunk.table, chunk.csv_types)

    def _finished(self, future: Future[ChunkResult]) -> None:
        result = future.result()
        self.computed[result.index] = self.checkpoint.add(result)
        self.listener.advanced(result.rows)
        for failure in result.failures:
            self.failures.append(failure)
            self.listener.failed(failure)

    def run(self) -> list[ckpt.ChunkEntry]:
        for failure in (f for entry in self.reused.values() for f in entry.failures):
            self.listener.failed(failure)
        schemas = self.plan.schemas
        self.listener.started(
            None if any(s.rows is None for s in schemas) else sum(s.rows or 0 for s in schemas),
            sum(entry.rows for entry in self.reused.values()),
        )
        in_flight: dict[Future[ChunkResult], tuple[int, int]] = {}
        # A pool gets one chunk predicting and one queued per worker; in-process, one at a time.
        limit = 1 if self.pool.count == 1 else 2 * self.pool.count
        try:
            for task in self._tasks():
                while len(in_flight) >= limit:
                    done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    for future in done:
                        self._finished(future)
                        del in_flight[future]
                if self.failures and not self.skip_errors:
                    break
                in_flight[self.pool.executor.submit(self.pool.predict, task)] = (task.index, task.first_row)
            for future in list(in_flight):  # chunks already running are finished and kept
                self._finished(future)
                del in_flight[future]
        except BrokenProcessPool as exc:
            first_row = min((first_row for _, first_row in in_flight.values()), default=None)
            raise InternalError(
                "a worker process died (killed, out of memory, or crashed in native code) while predicting "
                f"the chunks from row {first_row}; the finished chunks are kept, rerun with --resume to continue",
                {"chunks": sorted(index for index, _ in in_flight.values())},
            ) from exc
        finally:
            for future in in_flight:
                future.cancel()
        if self.failures and not self.skip_errors:
            ordered = sorted(self.failures, key=lambda f: f.first_row)
            more = f" (and {len(ordered) - 1} more failed ranges)" if len(ordered) > 1 else ""
            raise ValidationFailed(
                f"{ordered[0].describe()}{more}; rerun with --skip-errors to skip failing rows "
                "(--resume keeps the finished chunks)",
                {"field": "input", "failures": [f.model_dump() for f in ordered[:MAX_RECORDED_FAILURES]]},
            )
        entries = {**self.reused, **self.computed}
        return [entries[i] for i in sorted(entries)]


def run_batch(
    model: ModelSource,
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    keys: Sequence[str] = (),
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    workers: int | None = None,
    resume: bool = False,
    skip_errors: bool = False,
    overwrite: bool = False,
    journal: Path | None = None,
    listener: ProgressListener | None = None,
    prediction_log: PredictionLogSettings | None = None,
    artifacts: ArtifactSettings | None = None,
) -> BatchJob:
    """Predict every row of ``input_path`` with ``model`` into the Parquet file ``output_path``.

    Errors found before any row is predicted (a missing input, an unknown key column, a
    model whose files do not match its manifest, an output that exists without
    ``overwrite``, a checkpoint from other inputs on ``resume``) are raised. Once the job
    runs, its outcome is the returned :class:`BatchJob`, also written to
    ``<output>.job.json`` and appended to ``journal``; a failed job carries its error
    (``raise_for_status()``). An unexpected exception or Ctrl-C is recorded too, then
    re-raised.

    With ``prediction_log`` (its ``url`` set), every row predicted is also logged as the
    model server logs requests, under the job's id (:mod:`shipyard.batch.predlog`);
    ``artifacts`` gives the S3 settings for an ``s3://`` log.
    """
    listener = listener or ProgressListener()
    job_id = uuid.uuid4().hex
    workers = workers if workers is not None else default_workers()
    keys = list(keys)
    _check_options(keys, chunk_rows, workers)
    started_at = datetime.now(UTC)
    clock = time.perf_counter()
    output = Path(output_path).absolute()
    if output.is_dir():
        raise InvalidArgument(f"--output '{output}' is a directory; name a .parquet file", {"field": "output"})
    paths = ckpt.JobPaths(output)
    files = sources.discover(input_path)
    if any(item.path.resolve() == output.resolve() for item in files):
        raise InvalidArgument("--output would overwrite the input", {"field": "output"})
    if Path(input_path).is_dir() and output.resolve().is_relative_to(Path(input_path).resolve()):
        # Its checkpoint files would become input files of the next run.
        raise InvalidArgument("--output may not be inside the --input directory", {"field": "output"})
    manifest = verify_model(model.path)
    model_info = ModelInfo(
        uri=model.uri,
        resolved_uri=model.resolved_uri,
        name=model.name,
        version=model.version,
        run_id=model.run_id,
        path=str(model.path),
        flavor=manifest.flavor,
        manifest_sha256=_manifest_sha256(model.path),
    )
    plan = _plan(files, manifest, model.path, keys, paths.parts)
    if prediction_log is not None and prediction_log.url:
        log = BatchLog(
            prediction_log,
            job_id,
            model.name or directory_name(model.path),
            str(model.version) if model.version is not None else content_version(model.path),
            artifacts,
        )
        plan = dataclasses.replace(plan, worker=dataclasses.replace(plan.worker, prediction_log=log))
    chunks = sources.chunk_count(plan.schemas, chunk_rows)
    count = workers if chunks is None else max(1, min(workers, chunks))
    options = JobOptions(
        keys=keys,
        chunk_rows=chunk_rows,
        workers=count,
        skip_errors=skip_errors,
        resume=resume,
        prediction_log=plan.worker.prediction_log.settings.url if plan.worker.prediction_log else None,
    )
    with ckpt.locked(paths):
        if output.exists() and not overwrite:
            raise AlreadyExists(
                f"'{output}' already exists; pass --overwrite to replace it", {"field": "output", "path": str(output)}
            )
        listener.stage("starting workers" if count > 1 else "loading model")
        with _workers(plan.worker, count) as pool:
            listener.stage("hashing input")
            input_info = sources.digest(input_path, files, plan.schemas)
            fingerprint = {
                "input_sha256": input_info.sha256,
                "model_manifest_sha256": model_info.manifest_sha256,
                "chunk_rows": chunk_rows,
                "keys": keys,
            }
            checkpoint = ckpt.Checkpoint.open(paths, fingerprint, resume=resume)
            job = _Job(job_id, model_info, input_info, options, paths, journal, started_at, clock, chunks)
            run = _Run(plan, checkpoint, pool, chunk_rows=chunk_rows, skip_errors=skip_errors, listener=listener)
            try:
                listener.stage("predicting")
                entries = run.run()
                listener.stage("writing output")
                job.output = ckpt.publish(paths, entries, plan.empty_schema)
            except ShipyardError as exc:
                return job.finish(run, checkpoint, "failed", exc)
            except KeyboardInterrupt:
                job.finish(run, checkpoint, "interrupted", None)
                raise
            except Exception as exc:
                job.finish(run, checkpoint, "failed", InternalError(f"unexpected {type(exc).__name__}: {exc}"))
                raise
        return job.finish(run, checkpoint, "partial" if any(e.failures for e in entries) else "succeeded", None)


class _Job:
    """The parts of the record known before the job runs, and how it is completed."""

    def __init__(
        self,
        job_id: str,
        model: ModelInfo,
        input_info: InputInfo,
        options: JobOptions,
        paths: ckpt.JobPaths,
        journal: Path | None,
        started_at: datetime,
        clock: float,
        chunks: int | None,
    ) -> None:
        self.id = job_id
        self.chunks = chunks
        self.model = model
        self.input = input_info
        self.paths = paths
        self.journal = journal
        self.started_at = started_at
        self.clock = clock
        self.options = options
        self.output = OutputInfo(path=str(paths.output))

    def finish(
        self, run: _Run, checkpoint: ckpt.Checkpoint, status: JobStatus, error: ShipyardError | None
    ) -> BatchJob:
        checkpoint.close()
        entries = {**run.reused, **run.computed}
        failures = sorted((f for e in entries.values() for f in e.failures), key=lambda f: f.first_row)
        if status in ("succeeded", "partial"):
            ckpt.discard(self.paths)
        duration = time.perf_counter() - self.clock
        computed_rows = sum(e.rows for e in run.computed.values())
        record = BatchJobRecord(
            job_id=self.id,
            status=status,
            model=self.model,
            input=self.input,
            output=self.output,
            options=self.options,
            rows=RowCounts(
                input=sum(e.rows for e in entries.values()),
                output=sum(e.rows_out for e in entries.values()),
                failed=sum(f.rows for f in failures),
            ),
            chunks=ChunkCounts(
                total=len(entries) if status in ("succeeded", "partial") else self.chunks,
                finished=len(entries),
                computed=len(run.computed),
                reused=len(run.reused),
            ),
            failures=failures[:MAX_RECORDED_FAILURES],
            failures_truncated=max(0, len(failures) - MAX_RECORDED_FAILURES),
            started_at=self.started_at,
            finished_at=datetime.now(UTC),
            duration_s=round(duration, 3),
            rows_per_s=round(computed_rows / duration, 1) if duration > 0 else 0.0,
            checkpoint=None if status in ("succeeded", "partial") else str(self.paths.parts),
            error=_error(error),
        )
        _write_record(self.paths, record, self.journal)
        return BatchJob(record, error)


def _error(error: ShipyardError | None) -> JobError | None:
    if error is None:
        return None
    details = json.loads(json.dumps(dict(error.details), default=str))
    return JobError(code=error.code, message=error.message, details=details)
