from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shipyard.cli.context import JsonOption, ProjectOption, ctx_of, print_fields, print_json, print_table, reported
from shipyard.errors import InvalidArgument

if TYPE_CHECKING:
    from shipyard.registry.schemas import AliasRequestOut

app = typer.Typer(
    help="The model registry: models, versions, aliases, protected aliases and their approvals.",
    no_args_is_help=True,
)


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


# -- protected aliases and four-eyes requests ----------------------------------------
CommentOption = typer.Option("--comment", "-m", help="Why (required, not blank).")


@app.command("protected")
def protected(
    ctx: typer.Context, project: Annotated[str | None, ProjectOption] = None, json_out: bool = JsonOption
) -> None:
    """List the project's protected alias names."""
    cli = ctx_of(ctx)
    with reported(cli):
        entries = cli.client().list_protected_aliases(project=project)
        if json_out:
            print_json({"aliases": entries})
            return
        print_table(
            "Protected aliases",
            ["alias", "protected by", "since"],
            [["@" + e.alias, e.created_by, e.created_at.isoformat(timespec="seconds")] for e in entries],
        )


@app.command("protect")
def protect(
    ctx: typer.Context,
    alias: str,
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Protect @ALIAS in every model of the project: it then moves only through an approved request."""
    cli = ctx_of(ctx)
    with reported(cli):
        entry = cli.client().protect_alias(alias, project=project)
        if json_out:
            print_json(entry)
        else:
            typer.echo(f"@{alias} is protected (moving it needs an approval)")


@app.command("unprotect")
def unprotect(
    ctx: typer.Context,
    alias: str,
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Lift the protection of @ALIAS (recorded)."""
    cli = ctx_of(ctx)
    with reported(cli):
        cli.client().unprotect_alias(alias, project=project)
        if json_out:
            print_json({"alias": alias, "protected": False})
        else:
            typer.echo(f"@{alias} is no longer protected")


@app.command("request-alias")
def request_alias(
    ctx: typer.Context,
    name: str,
    alias: str,
    version: Annotated[int | None, typer.Argument(help="The version to point at (omit with --delete).")] = None,
    comment: Annotated[str, CommentOption] = "",
    delete: Annotated[bool, typer.Option("--delete", help="Request the alias's removal instead.")] = False,
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Request that protected @ALIAS of NAME point at VERSION (or, with --delete, be removed)."""
    cli = ctx_of(ctx)
    with reported(cli):
        if (version is None) == (not delete):
            raise InvalidArgument("give either VERSION or --delete", {"field": "version"})
        request = cli.client().request_alias_change(name, alias, version, comment=comment, project=project)
        if json_out:
            print_json(request)
        else:
            typer.echo(f"request {request.id}: {_change(request)} (pending; another maintainer approves it)")


@app.command("requests")
def requests(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="pending, approved, rejected or cancelled.")] = None,
    model: Annotated[str | None, typer.Option(help="Only this model's requests.")] = None,
    alias: Annotated[str | None, typer.Option(help="Only requests for this alias.")] = None,
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """List alias change requests, newest first."""
    cli = ctx_of(ctx)
    with reported(cli):
        found = list(cli.client().iter_alias_requests(status=status, model=model, alias=alias, project=project))
        if json_out:
            print_json({"requests": found})
            return
        print_table(
            "Alias change requests",
            ["id", "change", "status", "requested by", "comment", "decided by"],
            [[r.id, _change(r), r.status.value, r.requested_by, r.comment, r.decided_by] for r in found],
        )


@app.command("show-request")
def show_request(
    ctx: typer.Context,
    request_id: Annotated[int, typer.Argument(metavar="ID")],
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Show one alias change request."""
    cli = ctx_of(ctx)
    with reported(cli):
        _report(cli.client().get_alias_request(request_id, project=project), json_out)


@app.command("approve")
def approve(
    ctx: typer.Context,
    request_id: Annotated[int, typer.Argument(metavar="ID")],
    comment: Annotated[str, CommentOption] = "",
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Approve someone else's request and apply it (needs registry.approve)."""
    cli = ctx_of(ctx)
    with reported(cli):
        _report(cli.client().approve_alias_request(request_id, comment=comment, project=project), json_out)


@app.command("reject")
def reject(
    ctx: typer.Context,
    request_id: Annotated[int, typer.Argument(metavar="ID")],
    comment: Annotated[str, CommentOption] = "",
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Reject someone else's request (needs registry.approve)."""
    cli = ctx_of(ctx)
    with reported(cli):
        _report(cli.client().reject_alias_request(request_id, comment=comment, project=project), json_out)


@app.command("cancel-request")
def cancel_request(
    ctx: typer.Context,
    request_id: Annotated[int, typer.Argument(metavar="ID")],
    comment: Annotated[str, typer.Option("--comment", "-m", help="Why (optional).")] = "",
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Withdraw your own pending request."""
    cli = ctx_of(ctx)
    with reported(cli):
        _report(cli.client().cancel_alias_request(request_id, comment=comment, project=project), json_out)


def _change(request: AliasRequestOut) -> str:
    was = f"v{request.from_version}" if request.from_version is not None else "(none)"
    to = f"v{request.to_version}" if request.to_version is not None else "(removed)"
    return f"{request.model}@{request.alias} {was} → {to}"


def _report(request: AliasRequestOut, json_out: bool) -> None:
    if json_out:
        print_json(request)
        return
    decided = (
        {
            "decided by": request.decided_by,
            "decision": request.decision_comment,
            "decided at": request.decided_at.isoformat(timespec="seconds"),
        }
        if request.decided_at
        else {}
    )
    print_fields(
        f"Request {request.id}",
        {
            "change": _change(request),
            "status": request.status.value,
            "requested by": request.requested_by,
            "comment": request.comment,
            "requested at": request.created_at.isoformat(timespec="seconds"),
            **decided,
        },
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


@app.command("compare")
def compare(
    ctx: typer.Context,
    name: str,
    version_a: int,
    version_b: int,
    html: Annotated[Path | None, typer.Option("--html", help="Write the HTML evaluation report of B here")] = None,
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Compare versions A and B of NAME: B's evaluation against A (paired, same rows) when
    there is one, else the latest evaluation of each side by side."""
    from shipyard.evaluation.compare import compare_evaluations
    from shipyard.evaluation.report import render_html

    cli = ctx_of(ctx)
    with reported(cli):
        client = cli.client()
        second = client.list_evaluations(name, version_b, project=project)
        paired = next((e for e in second if e.baseline_version == version_a), None)
        first = [] if paired is not None else client.list_evaluations(name, version_a, project=project)
        if not second or (paired is None and not first):
            missing = version_b if not second else version_a
            raise InvalidArgument(
                f"version {missing} of '{name}' has no evaluation",
                {"field": "version", "fix": f"shipyard.evaluate('models:/{name}/{missing}', data=...)"},
            )
        chosen = paired or second[0]
        rows = compare_evaluations(None if paired else first[0].result, chosen.result, version_a)
        if html is not None:
            html.write_text(render_html(chosen.result, title=f"{name}: v{version_b} against v{version_a}"))
        if json_out:
            print_json({"model": name, "a": version_a, "b": version_b, "metrics": rows})
            return
        print_table(
            f"{name}: v{version_a} vs v{version_b}",
            ["metric", f"v{version_a}", f"v{version_b}", "delta [CI]", "paired"],
            [[r["metric"], r["a"], r["b"], r["delta"], "yes" if r["paired"] else "no"] for r in rows],
        )
