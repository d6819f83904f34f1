from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shipyard.cli.context import (
    JsonOption,
    ProjectOption,
    ctx_of,
    print_fields,
    print_json,
    print_table,
    reported,
    transfer_progress,
)

app = typer.Typer(help="Content-addressed artifact blobs.", no_args_is_help=True)


@app.command("upload")
def upload(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="File to store.")],
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Store a file; prints its sha256. Uploading the same bytes again is a no-op."""
    cli = ctx_of(ctx)
    with reported(cli):
        with transfer_progress(quiet=json_out) as progress:
            task = progress.add_task(f"upload {path.name}", total=path.stat().st_size)
            info = cli.client().upload_blob(path, project=project, progress=lambda n: progress.advance(task, n))
        if json_out:
            print_json(info)
        else:
            typer.echo(f"sha256:{info.digest}  {info.size} bytes")


@app.command("download")
def download(
    ctx: typer.Context,
    digest: Annotated[str, typer.Argument(help="sha256 of the blob (with or without 'sha256:').")],
    dest: Annotated[Path, typer.Argument(help="Where to write it.")],
    project: Annotated[str | None, ProjectOption] = None,
    restart: Annotated[bool, typer.Option("--restart", help="Ignore a partial download and start over.")] = False,
    json_out: bool = JsonOption,
) -> None:
    """Fetch a blob to a file, verifying its sha256; an interrupted download resumes."""
    cli = ctx_of(ctx)
    with reported(cli):
        client = cli.client()
        info = client.blob_info(digest, project=project)
        with transfer_progress(quiet=json_out) as progress:
            task = progress.add_task(f"download {info.digest[:12]}", total=info.size)
            path = client.download_blob(
                info.digest, dest, project=project, resume=not restart, progress=lambda n: progress.advance(task, n)
            )
        if json_out:
            print_json({"digest": info.digest, "size": info.size, "path": path})
        else:
            typer.echo(f"wrote {path} ({info.size} bytes, sha256 verified)")


@app.command("info")
def info(
    ctx: typer.Context,
    digest: str,
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Show a blob's size and creation time."""
    cli = ctx_of(ctx)
    with reported(cli):
        blob = cli.client().blob_info(digest, project=project)
        print_json(blob) if json_out else print_fields(f"sha256:{blob.digest}", blob.model_dump())


@app.command("list")
def list_(
    ctx: typer.Context,
    project: Annotated[str | None, ProjectOption] = None,
    max_results: Annotated[int | None, typer.Option(help="Page size.")] = None,
    page_token: Annotated[str | None, typer.Option(help="Token from the previous page.")] = None,
    json_out: bool = JsonOption,
) -> None:
    """List a project's blobs, newest first."""
    cli = ctx_of(ctx)
    with reported(cli):
        page = cli.client().list_blobs(project=project, max_results=max_results, page_token=page_token)
        if json_out:
            print_json({"blobs": page.items, "next_page_token": page.next_page_token})
            return
        print_table(
            "Blobs",
            ["sha256", "size", "created"],
            [[b.digest, b.size, b.created_at.isoformat(timespec="seconds")] for b in page.items],
        )
        if page.next_page_token:
            typer.echo(f"more: --page-token {page.next_page_token}")
