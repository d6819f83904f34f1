"""Batch inference: a model over Parquet/CSV files larger than memory, on every core.

``shipyard predict MODEL --input IN --output out.parquet`` (or :func:`run_batch`)::

    shipyard predict models:/churn@production --input exports/ --output scores.parquet \\
        --key customer_id --workers 8 --chunk-rows 100000 [--skip-errors] [--resume] [--json]

**Model.** ``models:/<name>@<alias>``, ``models:/<name>/<version>``, ``models:/<name>/latest``
(resolved once to a version, which is downloaded, verified, cached and recorded, so an
alias that moves mid-job changes nothing), ``runs:/<run id>/<path>``, or a local model
directory. The model's files are checked against its manifest once, before any row is read.

**Input.** A ``.parquet`` or ``.csv`` file, or a directory: every ``.parquet``/``.csv`` file
under it, in sorted relative-path order (names starting with ``.`` or ``_``, such as
``_SUCCESS``, are skipped). Files are streamed in chunks of ``--chunk-rows`` rows (default
100,000; a chunk never spans two files), so memory stays bounded whatever the input's
size: about two chunks per worker are in memory at once. With a column signature the
model receives the signature's columns (an input file lacking one is refused before the
job starts, and only those columns and the keys are read from Parquet); without one, every
column that is not a ``--key``. CSV column types are inferred from each file's first block
(4 MiB); in a later chunk whose text does not convert, that column stays text, so a stray
value fails only the rows around it, not the whole job.

**Parallelism.** Chunks are predicted by ``--workers`` processes (default: one per CPU,
never more than there are chunks), each loading the model once, with BLAS/OpenMP and
Arrow limited to one thread per process. With one worker the job predicts in its own
process. Workers are forked from a fork server that has imported Shipyard, numpy, pandas
and pyarrow once (spawned where there is none); a pool costs about the time to import the
model's library and load the model (seconds for scikit-learn), so several workers pay off
for jobs that run longer than that, or whose model is slow per row.

**Output.** One Parquet file: ``row_index`` (the row's 0-based position across the whole
input), the ``--key`` columns, then the predictions: ``prediction`` for one value per
row; for several, the model's DataFrame columns, the signature's output column names, or
``prediction_0``, ``prediction_1``, ... . Rows are in input order, whatever order the
workers finish in. The file appears only when complete: it is assembled as
``<output>.partial`` and renamed. An existing output is refused without ``--overwrite``.

**Failures.** When the model raises on a chunk, the chunk is split in halves and retried
until the failing rows are found (at most 64 extra calls per chunk), and each failing range
is reported as ``first_row``..``last_row`` (``row_index`` values, inclusive) with the
error, on the console and in the record. By default the job then stops, keeps its
checkpoint, and exits with code 2 and a one-line reason naming the rows. With
``--skip-errors`` those rows are left out of the output and the job ends with status
``partial`` (exit code 0). A worker process that dies (killed, out of memory) fails the job
with exit code 1; Ctrl-C stops it with status ``interrupted`` (exit code 130). Either way
the finished chunks are kept for ``--resume``.

**Resume.** Each finished chunk is written as its own Parquet file under
``<output>.parts/`` (temporary name, fsync, rename) and then listed in
``<output>.progress.jsonl`` (one line per chunk, fsynced; the first line fingerprints the
input's sha256, the model manifest's sha256, ``--chunk-rows`` and ``--key``). Parquet files
cannot be appended to, so the output is assembled only at the end, streaming the parts in
chunk order. ``--resume`` after a crash, a kill, Ctrl-C or a failure predicts only the
chunks not listed (a torn last line is ignored; a chunk whose part file is missing is
predicted again), so every input row appears exactly once. A checkpoint made for another
input, model or options is refused; without ``--resume`` an old checkpoint is discarded;
``--resume`` with no checkpoint starts afresh. Chunks with failed rows are predicted again
unless ``--skip-errors`` is given. ``<output>.lock`` keeps a second job off the same output.

**Record.** Every job that gets past its checks writes ``<output>.job.json`` (also when it
fails) and appends one event line, ``{"at", "actor", "action": "batch_job.<status>",
"object_type": "batch_job", "object_id": <job id>, "details": <record>}``, to
``$SHIPYARD_HOME/batch-jobs.jsonl``. The record (:class:`BatchJobRecord`) holds the model
URI, resolved version and manifest sha256; the input's sha256 (over all file bytes, files
in order) with per-file digests; the output's sha256, size and columns; row counts
(input, output, failed) and chunk counts (total, finished, computed by this run, reused
from a checkpoint), which for a job that did not finish cover the finished chunks; the
failed ranges; start and finish times (UTC); duration; rows per second; the checkpoint
kept, if any; the error, if any; and the status: ``succeeded``, ``partial``, ``failed`` or
``interrupted``. ``--json`` prints it.
"""

from shipyard.batch.model_source import ModelSource, resolve_model
from shipyard.batch.schemas import (
    BatchJobRecord,
    ChunkCounts,
    FailedRange,
    InputFileInfo,
    InputInfo,
    JobError,
    JobOptions,
    ModelInfo,
    OutputInfo,
    RowCounts,
)
from shipyard.batch.service import (
    DEFAULT_CHUNK_ROWS,
    JOURNAL_FILE,
    BatchJob,
    ProgressListener,
    default_workers,
    run_batch,
)

__all__ = [
    "BatchJob",
    "BatchJobRecord",
    "ChunkCounts",
    "DEFAULT_CHUNK_ROWS",
    "FailedRange",
    "InputFileInfo",
    "InputInfo",
    "JOURNAL_FILE",
    "JobError",
    "JobOptions",
    "ModelInfo",
    "ModelSource",
    "OutputInfo",
    "ProgressListener",
    "RowCounts",
    "default_workers",
    "resolve_model",
    "run_batch",
]
