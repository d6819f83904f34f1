"""What every CLI command shares: the settings overrides from global flags, the output
mode, and one way to turn errors into a one-line reason and an exit code."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from shipyard.errors import ShipyardError
from shipyard.settings import LoadedSettings, Settings, load_settings

if TYPE_CHECKING:
    from shipyard.client import Client

# Exit codes by error code; documented in docs/cli.md.
EXIT_CODES: dict[str, int] = {
    "INVALID_ARGUMENT": 2,
    "VALIDATION_FAILED": 2,
    "NOT_FOUND": 3,
    "ALREADY_EXISTS": 4,
    "CONFLICT": 4,
    "UNAVAILABLE": 5,
    "SCHEMA_OUT_OF_DATE": 6,
    "SCHEMA_TOO_NEW": 6,
    "DIGEST_MISMATCH": 7,
    "UNAUTHENTICATED": 8,
    "PERMISSION_DENIED": 8,
}

out = Console()
err = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class CliContext:
    overrides: dict[str, Any] = field(default_factory=dict)
    config_file: Path | None = None
    debug: bool = False
    _loaded: LoadedSettings | None = None
    _client: Client | None = None

    def loaded(self) -> LoadedSettings:
        if self._loaded is None:
            self._loaded = load_settings(self.overrides, self.config_file)
        return self._loaded

    @property
    def settings(self) -> Settings:
        return self.loaded().settings

    def client(self) -> Client:
        if self._client is None:
            from shipyard.client import Client  # on use: `shipyard serve` of a directory never needs it

            self._client = Client(settings=self.settings)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def ctx_of(ctx: typer.Context) -> CliContext:
    obj = ctx.find_root().obj
    assert isinstance(obj, CliContext)
    return obj


@contextmanager
def reported(cli: CliContext) -> Iterator[None]:
    """Run a command body: ShipyardErrors become ``error: <reason>`` and an exit code;
    anything else is a bug, shown in full only with ``--debug``."""
    try:
        yield
    except ShipyardError as exc:
        if cli.debug:
            err.print_exception()
        err.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True)
        fix = exc.details.get("fix")
        if exc.code == "UNAUTHENTICATED" and exc.details.get("reason") == "missing":
            fix = "set SHIPYARD_CLIENT_TOKEN=<token> (or --token); see docs/security.md for getting one"
        if fix:
            err.print(f"fix: {escape(str(fix))}", highlight=False)
        for name, check in (exc.details.get("checks") or {}).items():
            if isinstance(check, dict) and not check.get("ok", True):
                err.print(f"  {name}: {escape(str(check.get('error', 'failing')))}", highlight=False)
        raise typer.Exit(EXIT_CODES.get(exc.code, 1)) from None
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception as exc:
        if cli.debug:
            err.print_exception()
        err.print(
            f"[bold red]error:[/] unexpected {type(exc).__name__}: {escape(str(exc))} "
            "(rerun with --debug for the traceback)",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1) from None
    finally:
        cli.close()


def to_jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return json.loads(value.model_dump_json(by_alias=True))  # honours "NaN"/"Infinity" encoding
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(to_jsonable(value), indent=2, default=str) + "\n")


def print_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*["" if v is None else str(v) for v in row])
    out.print(table)


def print_fields(title: str, fields: dict[str, Any]) -> None:
    print_table(title, ["field", "value"], list(fields.items()))


def transfer_progress(quiet: bool) -> Progress:
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=quiet,
        transient=False,
    )


JsonOption = typer.Option(False, "--json", help="Print JSON for scripts instead of a table.")
ProjectOption = typer.Option("--project", "-p", help="Project (default: client.project setting).")
