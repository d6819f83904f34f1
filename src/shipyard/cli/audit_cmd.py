"""``shipyard audit``: verify the chain, sign checkpoints, export and verify exports, list entries."""

from __future__ import annotations

import enum
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TextIO

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from shipyard.audit import export
from shipyard.audit.keys import read_public_key
from shipyard.audit.schemas import AuditEntryOut, CheckpointOut, VerifyReport
from shipyard.cli.context import (
    EXIT_CODES,
    JsonOption,
    ctx_of,
    err,
    print_fields,
    print_json,
    print_table,
    reported,
    transfer_progress,
)
from shipyard.errors import InvalidArgument

app = typer.Typer(help="The tamper-evident audit log: verify, checkpoint, export.", no_args_is_help=True)

# A log that fails verification exits like any other integrity failure (see docs/cli.md).
BROKEN = EXIT_CODES["DIGEST_MISMATCH"]

PublicKeyOption = typer.Option(
    "--public-key",
    help="PEM public key to trust (repeatable). Default: the keys the server (or the export) names.",
    exists=True,
    dir_okay=False,
)
CheckpointsFromOption = typer.Option(
    "--checkpoints-from",
    help="An earlier export whose checkpoints must still match (repeatable): catches a rewrite signed anew.",
    exists=True,
    dir_okay=False,
)


class Format(enum.StrEnum):
    jsonl = "jsonl"


@contextmanager
def _counting(quiet: bool, description: str, total: int) -> Iterator[Progress]:
    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=quiet,
    )
    with progress:
        progress.add_task(description, total=total)
        yield progress


def _advance(progress: Progress) -> Callable[[int], None]:
    task = progress.task_ids[0]
    return lambda n: progress.advance(task, n)


def _keys(paths: list[Path]) -> list[Ed25519PublicKey]:
    return [read_public_key(p, "--public-key") for p in paths]


def _earlier(paths: list[Path]) -> tuple[list[CheckpointOut], list[Ed25519PublicKey]]:
    checkpoints: list[CheckpointOut] = []
    keys: list[Ed25519PublicKey] = []
    for path in paths:
        with path.open(encoding="utf-8") as fh:
            found, carried = export.read_checkpoints(fh, str(path))
        checkpoints += found
        keys += carried
    return checkpoints, keys


def _show(report: VerifyReport, json_out: bool) -> None:
    """Print the report; exit non-zero naming the first broken entry if there is one."""
    if json_out:
        print_json(report)
    else:
        print_fields(
            "Audit log verified" if report.ok else "Audit log verification FAILED",
            {
                "entries": report.entries,
                "seq": f"{report.first_seq} to {report.last_seq}" if report.entries else "none",
                "last hash": report.last_hash,
                "checkpoints confirmed": report.checkpoints,
                "newest checkpoint": report.latest_checkpoint,
                "entries after it": report.unsigned_entries,
            },
        )
        for note in report.notes:
            err.print(f"note: {escape(note)}", highlight=False)
    problem = report.problem
    if problem is not None:  # the message names the first broken entry (seq, event id) or checkpoint
        err.print(
            f"[bold red]error:[/] audit log broken ({problem.kind.value}): {escape(problem.message)}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(BROKEN)


@app.command("verify")
def verify(
    ctx: typer.Context,
    public_key: Annotated[list[Path] | None, PublicKeyOption] = None,
    checkpoints_from: Annotated[list[Path] | None, CheckpointsFromOption] = None,
    on_server: Annotated[
        bool, typer.Option("--on-server", help="Let the server verify (faster; trusts the server's verdict).")
    ] = False,
    json_out: bool = JsonOption,
) -> None:
    """Walk the whole chain and check every hash, link and checkpoint (exit 7 if broken)."""
    cli = ctx_of(ctx)
    with reported(cli):
        pinned = _keys(public_key or [])
        checkpoints, carried = _earlier(checkpoints_from or [])
        client = cli.client()
        if on_server:
            report = client.verify_audit_on_server()
        else:
            with _counting(json_out, "verifying", client.audit_head().seq) as progress:
                report = client.verify_audit(
                    public_keys=pinned or None,
                    extra_checkpoints=checkpoints,
                    extra_keys=carried,
                    progress=_advance(progress),
                )
        _show(report, json_out)


@app.command("checkpoint")
def checkpoint(ctx: typer.Context, json_out: bool = JsonOption) -> None:
    """Sign a checkpoint of the current head now."""
    cli = ctx_of(ctx)
    with reported(cli):
        issued = cli.client().create_audit_checkpoint()
        if json_out:
            print_json(issued)
            return
        verb = "signed checkpoint" if issued.created else "already signed: checkpoint"
        typer.echo(
            f"{verb} #{issued.id}: tree size {issued.tree_size}, head {issued.head_hash[:16]}…, key {issued.key_id}"
        )


def _position(value: str | None, option: str) -> int | datetime | None:
    """A seq number, or an ISO 8601 time (UTC when it names no zone)."""
    if value is None:
        return None
    if value.isdigit():
        return int(value)
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(
            f"{option} takes a seq number or an ISO 8601 time, not {value!r}", {"field": option}
        ) from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


@contextmanager
def _output(path: Path | None) -> Iterator[TextIO]:
    """stdout, or ``path`` written whole or not at all (a temporary file renamed at the end)."""
    if path is None or str(path) == "-":
        yield sys.stdout
        return
    partial = path.with_name(path.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8") as fh:
            yield fh
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


@app.command("export")
def export_(
    ctx: typer.Context,
    since: Annotated[
        str | None, typer.Option("--since", help="First entry: a seq number, or an ISO time (UTC if no zone).")
    ] = None,
    until: Annotated[str | None, typer.Option("--until", help="Last entry: a seq number or an ISO time.")] = None,
    format_: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.jsonl,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")] = None,
) -> None:
    """Write entries, the checkpoints covering them and the public keys as JSON Lines."""
    cli = ctx_of(ctx)
    with reported(cli):
        first, last = _position(since, "since"), _position(until, "until")
        client = cli.client()
        head = client.audit_head()
        low, high = client.audit_seq_range(first, last, head.seq)
        with _output(output) as out, _counting(False, "exporting", max(high - low + 1, 0)) as progress:
            end = client.export_audit(out, since=low, until=high, progress=_advance(progress))
        where = output if output is not None and str(output) != "-" else "stdout"
        span = f" (seq {low} to {end.last_seq})" if end.entries else ""
        err.print(f"exported {end.entries} entries{span} as {format_.value} to {where}", highlight=False)


@app.command("verify-export")
def verify_export(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="An export written by `audit export`.")],
    public_key: Annotated[list[Path] | None, PublicKeyOption] = None,
    checkpoints_from: Annotated[list[Path] | None, CheckpointsFromOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Verify an export offline: needs only the file (and ideally the public key), no database."""
    cli = ctx_of(ctx)
    with reported(cli):
        pinned = _keys(public_key or [])
        checkpoints, carried = _earlier(checkpoints_from or [])
        with (
            file.open(encoding="utf-8") as fh,
            transfer_progress(quiet=json_out) as progress,
        ):
            task = progress.add_task(f"verifying {file.name}", total=file.stat().st_size)

            def lines() -> Iterator[str]:
                for line in fh:
                    progress.advance(task, len(line.encode()))
                    yield line

            report = export.verify_export(
                lines(), str(file), pinned=pinned or None, extra_checkpoints=checkpoints, extra_keys=carried
            )
        _show(report, json_out)


@app.command("public-key")
def public_key_(
    ctx: typer.Context,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")] = None,
    json_out: bool = JsonOption,
) -> None:
    """Print the PEM public key that verifies new checkpoints (give it to your auditors)."""
    cli = ctx_of(ctx)
    with reported(cli):
        keys = cli.client().audit_public_keys()
        if json_out:
            print_json(keys)
            return
        signing = next(k for k in keys.keys if k.signing)
        if output is None:
            sys.stdout.write(signing.public_key_pem)
        else:
            output.write_text(signing.public_key_pem, encoding="utf-8")
            err.print(f"wrote public key {signing.key_id} to {output}", highlight=False)


def _row(e: AuditEntryOut) -> list[object]:
    return [
        e.seq,
        e.at.isoformat(timespec="seconds"),
        e.actor,
        e.action,
        f"{e.object_type}:{e.object_id}",
        e.project or "",
        e.source or "",
    ]


@app.command("log")
def log(
    ctx: typer.Context,
    project: Annotated[str | None, typer.Option("--project", "-p", help="Only this project's entries.")] = None,
    actor: Annotated[str | None, typer.Option(help="Only this actor's entries.")] = None,
    action: Annotated[str | None, typer.Option(help="Only this action (e.g. access.denied).")] = None,
    max_results: Annotated[int, typer.Option(help="How many entries.")] = 50,
    page_token: Annotated[str | None, typer.Option(help="Token from the previous page.")] = None,
    json_out: bool = JsonOption,
) -> None:
    """List recent entries, newest first."""
    cli = ctx_of(ctx)
    with reported(cli):
        page = cli.client().list_audit_entries(
            project=project,
            actor=actor,
            action=action,
            newest_first=True,
            max_results=max_results,
            page_token=page_token,
        )
        if json_out:
            print_json({"entries": page.items, "next_page_token": page.next_page_token})
            return
        print_table(
            "Audit log", ["seq", "at", "actor", "action", "object", "project", "source"], [_row(e) for e in page.items]
        )
        if page.next_page_token:
            typer.echo(f"more: --page-token {page.next_page_token}")
