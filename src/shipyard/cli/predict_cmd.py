"""``shipyard predict``: batch inference over Parquet/CSV files (see :mod:`shipyard.batch`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from shipyard.batch import (
    DEFAULT_CHUNK_ROWS,
    JOURNAL_FILE,
    BatchJobRecord,
    FailedRange,
    ProgressListener,
    resolve_model,
    run_batch,
)
from shipyard.cli.context import JsonOption, ProjectOption, ctx_of, err, print_json, reported


class _RowsColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        done = int(task.completed)
        text = f"{done:,} rows" if task.total is None else f"{done:,}/{int(task.total):,} rows"
        return Text(text, style="progress.download")


class _SpeedColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} rows/s", style="progress.data.speed")


class _Bar(ProgressListener):
    """The job's progress as a rich bar on stderr; failed row ranges printed above it."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None  # no bar until the job has passed its checks

    def _task(self) -> TaskID:
        if self.task is None:
            self.task = self.progress.add_task("starting", total=None)
        return self.task

    def stage(self, description: str) -> None:
        self.progress.update(self._task(), description=description)

    def started(self, total_rows: int | None, done_rows: int) -> None:
        self.progress.reset(self._task(), total=total_rows, completed=done_rows, description="predicting")

    def advanced(self, rows: int) -> None:
        self.progress.advance(self._task(), rows)

    def failed(self, failure: FailedRange) -> None:
        self.progress.console.print(f"[yellow]warning:[/] {escape(failure.describe())}", highlight=False)


def _summary(record: BatchJobRecord) -> str:
    rows = record.rows
    parts = [
        f"{record.status}: {rows.output:,} of {rows.input:,} rows predicted into {record.output.path}",
        f"in {record.duration_s:.2f} s ({record.rows_per_s:,.0f} rows/s)",
    ]
    if rows.failed:
        parts.append(f"- {rows.failed:,} rows failed in {len(record.failures) + record.failures_truncated} ranges")
    if record.chunks.reused:
        parts.append(f"- {record.chunks.reused} chunks reused from the checkpoint")
    return " ".join(parts)


def predict(
    ctx: typer.Context,
    model: Annotated[
        str,
        typer.Argument(
            help="models:/<name>@<alias>, models:/<name>/<version>, runs:/<run id>/<path>, or a model directory."
        ),
    ],
    input_path: Annotated[
        Path, typer.Option("--input", "-i", help="A .parquet or .csv file, or a directory of them (sorted by path).")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="The Parquet file to write.")],
    key: Annotated[
        list[str] | None, typer.Option("--key", "-k", help="An input column to copy into the output (repeatable).")
    ] = None,
    chunk_rows: Annotated[
        int, typer.Option("--chunk-rows", min=1, help="Rows per chunk: the unit of work, progress and resume.")
    ] = DEFAULT_CHUNK_ROWS,
    workers: Annotated[
        int | None, typer.Option("--workers", "-w", min=1, help="Processes predicting chunks (default: one per CPU).")
    ] = None,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Continue an interrupted job from its checkpoint; finished chunks are kept."),
    ] = False,
    skip_errors: Annotated[
        bool, typer.Option("--skip-errors", help="Leave out rows the model fails on (recorded) instead of failing.")
    ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output file.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Predict every row of a Parquet/CSV input in parallel chunks into a Parquet file.

    The output holds row_index (the row's 0-based position in the input), the --key
    columns and the prediction column(s), in input order. A job record is written to
    OUTPUT.job.json and appended to $SHIPYARD_HOME/batch-jobs.jsonl.
    """
    cli = ctx_of(ctx)
    with reported(cli):
        source = resolve_model(model, cli.client, project=project)
        progress = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            _RowsColumn(),
            _SpeedColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err,
            disable=quiet,
            transient=False,
        )
        try:
            with progress:
                job = run_batch(
                    source,
                    input_path,
                    output,
                    keys=key or [],
                    chunk_rows=chunk_rows,
                    workers=workers,
                    resume=resume,
                    skip_errors=skip_errors,
                    overwrite=overwrite,
                    journal=cli.settings.home / JOURNAL_FILE,
                    listener=_Bar(progress),
                )
        except KeyboardInterrupt:
            err.print("interrupted; rerun with --resume to continue from the finished chunks", highlight=False)
            raise typer.Exit(130) from None
        if json_out:
            print_json(job.record)
        elif job.error is None:
            typer.echo(_summary(job.record))
        job.raise_for_status()
