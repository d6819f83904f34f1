from __future__ import annotations

from typing import Annotated

import typer

from shipyard.cli.context import JsonOption, ctx_of, print_fields, print_json, print_table, reported
from shipyard.projects.schemas import ProjectOut

app = typer.Typer(help="Projects (tenants). 'default' always exists.", no_args_is_help=True)


def _row(p: ProjectOut) -> list[str]:
    return [p.name, p.description, p.created_at.isoformat(timespec="seconds")]


@app.command("list")
def list_(
    ctx: typer.Context,
    max_results: Annotated[int | None, typer.Option(help="Page size.")] = None,
    page_token: Annotated[str | None, typer.Option(help="Token from the previous page.")] = None,
    json_out: bool = JsonOption,
) -> None:
    """List projects, one page at a time."""
    cli = ctx_of(ctx)
    with reported(cli):
        page = cli.client().list_projects(max_results=max_results, page_token=page_token)
        if json_out:
            print_json({"projects": page.items, "next_page_token": page.next_page_token})
            return
        print_table("Projects", ["name", "description", "created"], [_row(p) for p in page.items])
        if page.next_page_token:
            typer.echo(f"more: --page-token {page.next_page_token}")


@app.command("show")
def show(ctx: typer.Context, name: str, json_out: bool = JsonOption) -> None:
    """Show one project."""
    cli = ctx_of(ctx)
    with reported(cli):
        project = cli.client().get_project(name)
        print_json(project) if json_out else print_fields(f"Project {name}", project.model_dump())


@app.command("create")
def create(
    ctx: typer.Context,
    name: str,
    description: Annotated[str, typer.Option(help="What the project is for.")] = "",
    json_out: bool = JsonOption,
) -> None:
    """Create a project."""
    cli = ctx_of(ctx)
    with reported(cli):
        project = cli.client().create_project(name, description)
        print_json(project) if json_out else typer.echo(f"created project {project.name}")


@app.command("update")
def update(
    ctx: typer.Context,
    name: str,
    description: Annotated[str, typer.Option(help="New description.")],
    json_out: bool = JsonOption,
) -> None:
    """Change a project's description."""
    cli = ctx_of(ctx)
    with reported(cli):
        project = cli.client().update_project(name, description=description)
        print_json(project) if json_out else typer.echo(f"updated project {project.name}")
