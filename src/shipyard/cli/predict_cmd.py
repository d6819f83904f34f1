"""``shipyard predict``: batch inference over Parquet/CSV files (see :mod:`shipyard.batch`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from shipyard.cli.context import JsonOption, ProjectOption, ctx_of, err, print_json, reported


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
        int | None,
        typer.Option(
            "--chunk-rows", min=1, help="Rows per chunk: the unit of work, progress and resume [default: 100000]."
        ),
    ] = None,
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
        from shipyard.batch import DEFAULT_CHUNK_ROWS, JOURNAL_FILE, resolve_model, run_batch
        from shipyard.cli.predict_view import Bar, RowsColumn, SpeedColumn, summary

        source = resolve_model(model, cli.client, project=project)
        progress = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            RowsColumn(),
            SpeedColumn(),
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
                    chunk_rows=chunk_rows or DEFAULT_CHUNK_ROWS,
                    workers=workers,
                    resume=resume,
                    skip_errors=skip_errors,
                    overwrite=overwrite,
                    journal=cli.settings.home / JOURNAL_FILE,
                    listener=Bar(progress),
                )
        except KeyboardInterrupt:
            err.print("interrupted; rerun with --resume to continue from the finished chunks", highlight=False)
            raise typer.Exit(130) from None
        if json_out:
            print_json(job.record)
        elif job.error is None:
            typer.echo(summary(job.record))
        job.raise_for_status()
