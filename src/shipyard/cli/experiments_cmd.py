from __future__ import annotations

from typing import Annotated

import typer

from shipyard.cli.context import JsonOption, ProjectOption, ctx_of, print_fields, print_json, print_table, reported
from shipyard.errors import NotFound
from shipyard.tracking.schemas import ExperimentOut

app = typer.Typer(help="Experiments: groups of runs.", no_args_is_help=True)


def _row(e: ExperimentOut) -> list[object]:
    return [
        e.id,
        e.name,
        e.lifecycle_stage,
        ", ".join(f"{k}={v}" for k, v in e.tags.items()),
        e.created_at.isoformat(timespec="seconds"),
    ]


@app.command("list")
def list_(
    ctx: typer.Context,
    view: Annotated[str, typer.Option(help="active, archived or all")] = "active",
    project: Annotated[str | None, ProjectOption] = None,
    max_results: Annotated[int | None, typer.Option(help="Page size.")] = None,
    page_token: Annotated[str | None, typer.Option(help="Token from the previous page.")] = None,
    json_out: bool = JsonOption,
) -> None:
    """List experiments."""
    cli = ctx_of(ctx)
    with reported(cli):
        page = cli.client().list_experiments(view=view, project=project, max_results=max_results, page_token=page_token)
        if json_out:
            print_json({"experiments": page.items, "next_page_token": page.next_page_token})
            return
        print_table("Experiments", ["id", "name", "stage", "tags", "created"], [_row(e) for e in page.items])
        if page.next_page_token:
            typer.echo(f"more: --page-token {page.next_page_token}")


@app.command("create")
def create(
    ctx: typer.Context,
    name: str,
    description: Annotated[str, typer.Option(help="What it is for.")] = "",
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Create an experiment."""
    cli = ctx_of(ctx)
    with reported(cli):
        exp = cli.client().create_experiment(name, description=description, project=project)
        print_json(exp) if json_out else typer.echo(f"created experiment {exp.name} (id {exp.id})")


@app.command("show")
def show(
    ctx: typer.Context,
    name: str,
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Show an experiment by name (or numeric id)."""
    cli = ctx_of(ctx)
    with reported(cli):
        client = cli.client()
        try:
            exp = client.get_experiment_by_name(name, project=project)
        except NotFound:
            if not name.isdigit():
                raise
            exp = client.get_experiment(int(name), project=project)
        print_json(exp) if json_out else print_fields(f"Experiment {exp.name}", exp.model_dump())


@app.command("rename")
def rename(
    ctx: typer.Context, experiment_id: int, new_name: str, project: Annotated[str | None, ProjectOption] = None
) -> None:
    """Rename an experiment."""
    cli = ctx_of(ctx)
    with reported(cli):
        exp = cli.client().update_experiment(experiment_id, name=new_name, project=project)
        typer.echo(f"experiment {exp.id} is now {exp.name}")


@app.command("archive")
def archive(ctx: typer.Context, experiment_id: int, project: Annotated[str | None, ProjectOption] = None) -> None:
    """Archive an experiment (restorable)."""
    cli = ctx_of(ctx)
    with reported(cli):
        exp = cli.client().archive_experiment(experiment_id, project=project)
        typer.echo(f"archived experiment {exp.name}")


@app.command("restore")
def restore(ctx: typer.Context, experiment_id: int, project: Annotated[str | None, ProjectOption] = None) -> None:
    """Restore an archived experiment."""
    cli = ctx_of(ctx)
    with reported(cli):
        exp = cli.client().restore_experiment(experiment_id, project=project)
        typer.echo(f"restored experiment {exp.name}")
