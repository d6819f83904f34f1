"""``shipyard``: the root command, its global flags and the sub-command groups."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shipyard import __version__
from shipyard.cli import (
    artifacts_cmd,
    config_cmd,
    db_cmd,
    demo_cmd,
    experiments_cmd,
    models_cmd,
    predict_cmd,
    projects_cmd,
    runs_cmd,
    serve_cmd,
    server_cmd,
)
from shipyard.cli.context import CliContext, JsonOption, ctx_of, print_fields, print_json, print_table, reported

app = typer.Typer(
    name="shipyard",
    help="Shipyard: track, register, serve, monitor and govern models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
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
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    ctx.obj = CliContext(
        overrides={
            "home": str(home) if home else None,
            "database.url": database_url,
            "artifacts.url": artifacts_url,
            "client.url": server_url,
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


app.add_typer(config_cmd.app, name="config")
app.add_typer(db_cmd.app, name="db")
app.add_typer(projects_cmd.app, name="projects")
app.add_typer(artifacts_cmd.app, name="artifacts")
app.add_typer(experiments_cmd.app, name="experiments")
app.add_typer(runs_cmd.app, name="runs")
app.add_typer(models_cmd.app, name="models")
app.command(name="server")(server_cmd.server)
app.command(name="serve")(serve_cmd.serve)
app.command(name="predict")(predict_cmd.predict)
app.command(name="demo")(demo_cmd.demo)


def run() -> None:
    app()
