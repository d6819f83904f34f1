"""``shipyard``: the root command, its global flags and the sub-command groups.

Sub-commands are imported when they run (or when help lists them), not when ``shipyard``
starts: many of them need the metadata store (SQLAlchemy, Alembic) or the server, and
``shipyard serve DIR`` must start without either (``docs/serving.md``, start-up). Add a
command to :data:`COMMANDS` (groups and single commands alike), in the order help lists them.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Annotated, Final

import typer
from typer import _click as click  # typer vendors click: its groups take these types
from typer.core import TyperGroup

from shipyard import __version__
from shipyard.cli.context import CliContext, JsonOption, ctx_of, print_fields, print_json, print_table, reported

# name -> (module, attribute): a typer.Typer (a group) or a function (one command).
COMMANDS: dict[str, tuple[str, str]] = {
    "config": ("shipyard.cli.config_cmd", "app"),
    "db": ("shipyard.cli.db_cmd", "app"),
    "projects": ("shipyard.cli.projects_cmd", "app"),
    "artifacts": ("shipyard.cli.artifacts_cmd", "app"),
    "experiments": ("shipyard.cli.experiments_cmd", "app"),
    "runs": ("shipyard.cli.runs_cmd", "app"),
    "models": ("shipyard.cli.models_cmd", "app"),
    "gates": ("shipyard.cli.gates_cmd", "app"),
    "endpoints": ("shipyard.cli.endpoints_cmd", "app"),
    "monitor": ("shipyard.cli.monitor_cmd", "app"),
    "alerts": ("shipyard.cli.alerts_cmd", "app"),
    "admin": ("shipyard.cli.admin_cmd", "app"),
    "users": ("shipyard.cli.auth_cmd", "users"),
    "service-accounts": ("shipyard.cli.auth_cmd", "service_accounts"),
    "tokens": ("shipyard.cli.auth_cmd", "tokens"),
    "members": ("shipyard.cli.auth_cmd", "members"),
    "audit": ("shipyard.cli.audit_cmd", "app"),
    "whoami": ("shipyard.cli.auth_cmd", "whoami"),
    "server": ("shipyard.cli.server_cmd", "server"),
    "serve": ("shipyard.cli.serve_cmd", "serve"),
    "predict": ("shipyard.cli.predict_cmd", "predict"),
    "demo": ("shipyard.cli.demo_cmd", "demo"),
}
MARKUP: Final = "rich"


def _import_command(name: str) -> click.Command:
    """The click command for ``COMMANDS[name]``, built exactly as ``add_typer``/``command`` would."""
    module, attribute = COMMANDS[name]
    target = getattr(importlib.import_module(module), attribute)
    parent = typer.Typer(rich_markup_mode=MARKUP, pretty_exceptions_enable=False)
    if isinstance(target, typer.Typer):
        parent.add_typer(target, name=name)
    else:
        parent.command(name=name)(target)
    return typer.main.get_group(parent).commands[name]


class LazyGroup(TyperGroup):
    """The root group: commands of :data:`COMMANDS` are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        eager = super().list_commands(ctx)
        return eager + [name for name in COMMANDS if name not in eager]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in COMMANDS:
            command = self.commands[cmd_name] = _import_command(cmd_name)
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands and args[0] not in COMMANDS:
            for name in COMMANDS:  # a typo: "Did you mean …?" looks among the loaded commands
                self.get_command(ctx, name)
        return super().resolve_command(ctx, args)


app = typer.Typer(
    cls=LazyGroup,
    name="shipyard",
    help="Shipyard: track, register, serve, monitor and govern models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=MARKUP,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def root(
    ctx: typer.Context,
    home: Annotated[Path | None, typer.Option("--home", help="Shipyard home (default: ~/.shipyard).")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="shipyard.toml to read.")] = None,
    database_url: Annotated[str | None, typer.Option("--database-url", help="Metadata database URL.")] = None,
    artifacts_url: Annotated[str | None, typer.Option("--artifacts-url", help="Artifact store URL.")] = None,
    server_url: Annotated[
        str | None, typer.Option("--server-url", help="Talk to this server instead of local mode.")
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token", help="API token for --server-url (prefer SHIPYARD_CLIENT_TOKEN: flags end up in history)."
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    ctx.obj = CliContext(
        overrides={
            "home": str(home) if home else None,
            "database.url": database_url,
            "artifacts.url": artifacts_url,
            "client.url": server_url,
            "client.token": token,
        },
        config_file=config,
        debug=debug,
    )


@app.command()
def version(json_out: bool = JsonOption) -> None:
    """Print Shipyard's version."""
    if json_out:
        print_json({"version": __version__})
    else:
        typer.echo(__version__)


@app.command()
def status(ctx: typer.Context, json_out: bool = JsonOption) -> None:
    """Check that the metadata database and artifact store are reachable (local mode or --server-url)."""
    cli = ctx_of(ctx)
    with reported(cli):
        client = cli.client()
        report = client.ready()
        info = client.server_info()
        if json_out:
            print_json({"ready": report, "server": info, "mode": "local" if client.is_local else client.url})
            return
        print_fields(
            "Shipyard",
            {
                "mode": "local (in-process)" if client.is_local else f"server {client.url}",
                "version": info["version"],
                "schema revision": info["schema_revision"],
            },
        )
        print_table(
            "Readiness",
            ["check", "ok", "backend", "where"],
            [[name, "yes" if c["ok"] else "NO", c["backend"], c["url"]] for name, c in report["checks"].items()],
        )


def run() -> None:
    app()
