"""``shipyard predict``: batch inference over Parquet/CSV files (see :mod:`shipyard.batch`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from shipyard.cli.context import JsonOption, ProjectOption, ctx_of, err, print_json, reported
from shipyard.errors import InvalidArgument


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
    prediction_log: Annotated[
        str | None,
        typer.Option(
            "--prediction-log",
            help="Also log every predicted row as the model server does: Parquet under this directory or "
            "fsspec URL (s3://bucket/prefix), tagged with the job's id.",
            show_default=False,
        ),
    ] = None,
    prediction_log_project: Annotated[str, typer.Option(help="The project=... partition of the log.")] = "default",
    prediction_log_endpoint: Annotated[
        str | None, typer.Option(help="The endpoint=... partition of the log [default: the model's name].")
    ] = None,
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

        log_settings = None
        if prediction_log is not None:
            from shipyard.serving.settings import PredictionLogSettings

            try:
                log_settings = PredictionLogSettings(
                    url=prediction_log, project=prediction_log_project, endpoint=prediction_log_endpoint
                )
            except ValidationError as exc:
                first = exc.errors()[0]
                field = str(first["loc"][0])
                raise InvalidArgument(
                    f"--prediction-log-{field}: {first['msg']}", {"field": f"prediction_log.{field}"}
                ) from None
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
                    prediction_log=log_settings,
                    artifacts=cli.settings.artifacts,  # an s3:// log uses artifacts.s3_*
                )
        except KeyboardInterrupt:
            err.print("interrupted; rerun with --resume to continue from the finished chunks", highlight=False)
            raise typer.Exit(130) from None
        if json_out:
            print_json(job.record)
        elif job.error is None:
            typer.echo(summary(job.record))
        job.raise_for_status()
