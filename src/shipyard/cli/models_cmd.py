from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shipyard.cli.context import JsonOption, ProjectOption, ctx_of, print_fields, print_json, print_table, reported

app = typer.Typer(help="The model registry: models, versions, aliases.", no_args_is_help=True)


@app.command("list")
def list_(
    ctx: typer.Context,
    view: Annotated[str, typer.Option(help="active, archived, deleted or all")] = "active",
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """List registered models with their aliases."""
    cli = ctx_of(ctx)
    with reported(cli):
        models = list(cli.client().iter_registered_models(view=view, project=project))
        if json_out:
            print_json({"models": models})
            return
        print_table(
            "Registered models",
            ["name", "latest", "aliases", "updated"],
            [
                [
                    m.name,
                    m.latest_version,
                    ", ".join(f"@{a}→v{v}" for a, v in m.aliases.items()),
                    m.updated_at.isoformat(timespec="seconds"),
                ]
                for m in models
            ],
        )


@app.command("show")
def show(
    ctx: typer.Context, name: str, project: Annotated[str | None, ProjectOption] = None, json_out: bool = JsonOption
) -> None:
    """Show a model and its versions."""
    cli = ctx_of(ctx)
    with reported(cli):
        client = cli.client()
        model = client.get_registered_model(name, project=project)
        versions = client.list_model_versions(name, project=project, max_results=100).items
        if json_out:
            print_json({"model": model, "versions": versions})
            return
        print_fields(
            f"Model {model.name}",
            {"description": model.description, "latest version": model.latest_version, "tags": model.tags},
        )
        print_table(
            "Versions",
            ["version", "status", "flavor", "aliases", "run", "created"],
            [
                [
                    v.version,
                    v.status.value,
                    v.flavor,
                    ", ".join("@" + a for a in v.aliases),
                    v.run_id or "",
                    v.created_at.isoformat(timespec="seconds"),
                ]
                for v in versions
            ],
        )


@app.command("register")
def register(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="runs:/<run id>/<path> of a logged model.")],
    name: str,
    description: Annotated[str, typer.Option(help="Version notes.")] = "",
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Register a logged model as the next version of NAME."""
    cli = ctx_of(ctx)
    with reported(cli):
        version = cli.client().register_model(source, name, description=description, project=project)
        if json_out:
            print_json(version)
        else:
            typer.echo(f"{name} version {version.version}: {version.status.value} {version.status_message}".rstrip())
        if version.status.value == "FAILED_REGISTRATION":
            raise typer.Exit(1)


@app.command("set-alias")
def set_alias(
    ctx: typer.Context,
    name: str,
    alias: str,
    version: int,
    project: Annotated[str | None, ProjectOption] = None,
) -> None:
    """Point @ALIAS of NAME at VERSION (atomic; the move is recorded)."""
    cli = ctx_of(ctx)
    with reported(cli):
        cli.client().set_alias(name, alias, version, project=project)
        typer.echo(f"{name}@{alias} → version {version}")


@app.command("delete-alias")
def delete_alias(
    ctx: typer.Context, name: str, alias: str, project: Annotated[str | None, ProjectOption] = None
) -> None:
    """Remove @ALIAS from NAME."""
    cli = ctx_of(ctx)
    with reported(cli):
        cli.client().delete_alias(name, alias, project=project)
        typer.echo(f"removed {name}@{alias}")


@app.command("alias-history")
def alias_history(
    ctx: typer.Context,
    name: str,
    alias: Annotated[str | None, typer.Option(help="Only this alias.")] = None,
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Every alias move: when, who, from which version to which."""
    cli = ctx_of(ctx)
    with reported(cli):
        changes = cli.client().alias_history(name, alias=alias, project=project)
        if json_out:
            print_json({"changes": changes})
            return
        print_table(
            f"Alias history of {name}",
            ["at", "alias", "from", "to", "actor"],
            [
                [
                    c.at.isoformat(timespec="seconds"),
                    "@" + c.alias,
                    c.from_version or "",
                    c.to_version or "(removed)",
                    c.actor,
                ]
                for c in changes
            ],
        )


@app.command("download")
def download(
    ctx: typer.Context,
    uri: Annotated[
        str, typer.Argument(help="models:/name@alias, models:/name/3, models:/name/latest or runs:/id/path")
    ],
    dest: Annotated[Path, typer.Argument(help="Directory to write the model into.")],
    project: Annotated[str | None, ProjectOption] = None,
) -> None:
    """Download a model's files, verifying every sha256."""
    cli = ctx_of(ctx)
    with reported(cli):
        out = cli.client().download_model(uri, dest, project=project)
        typer.echo(f"wrote {out}")
