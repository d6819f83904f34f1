"""``shipyard whoami``, ``users``, ``service-accounts``, ``tokens`` and ``members``:
identity through the API (a server with --server-url and a token, or local mode)."""

from __future__ import annotations

from typing import Annotated

import typer

from shipyard.auth.schemas import PrincipalOut, TokenCreated, TokenOut
from shipyard.auth.tables import SERVICE_ACCOUNT, USER
from shipyard.cli.admin_cmd import show_token
from shipyard.cli.context import (
    JsonOption,
    ProjectOption,
    ctx_of,
    print_fields,
    print_json,
    print_table,
    reported,
)

users = typer.Typer(help="Users (people): create, list, show, update.", no_args_is_help=True)
service_accounts = typer.Typer(
    help="Service accounts (CI jobs, model clients): create, list, show, update.", no_args_is_help=True
)
tokens = typer.Typer(help="API tokens: create (shown once), list (prefixes only), revoke.", no_args_is_help=True)
members = typer.Typer(help="Project members: who holds which role in a project.", no_args_is_help=True)

OrgRoleOption = typer.Option("--org-role", help="org_admin or auditor (organisation-wide).")
PrincipalOption = typer.Option(
    "--principal", help="Another user or service account (needs identity.read / identity.admin)."
)
PageSizeOption = typer.Option(help="Page size.")
PageTokenOption = typer.Option(help="Token from the previous page.")


def whoami(ctx: typer.Context, json_out: bool = JsonOption) -> None:
    """Who the server (or local mode) takes you for: name, roles, token, memberships."""
    cli = ctx_of(ctx)
    with reported(cli):
        me = cli.client().whoami()
        if json_out:
            print_json(me)
            return
        print_fields(
            "Who am I",
            {
                "name": me.name,
                "kind": me.kind,
                "via": me.via,
                "org roles": ", ".join(me.org_roles) or "-",
                "token": f"{me.token.prefix} (expires {me.token.expires_at:%Y-%m-%d})" if me.token else "-",
            },
        )
        if me.memberships:
            print_table("Memberships", ["project", "role", "via"], [[m.project, m.role, m.via] for m in me.memberships])


# -- users and service accounts -----------------------------------------------------------
def _principal_row(p: PrincipalOut) -> list[str]:
    state = "disabled" if p.disabled_at else "active"
    return [p.name, p.org_role or "", p.source, state, p.created_at.isoformat(timespec="seconds")]


def _principal_commands(group: typer.Typer, kind: str, label: str) -> None:
    @group.command("create", help=f"Create a {label} (it has no token until one is issued: `tokens create`).")
    def create(
        ctx: typer.Context,
        name: str,
        org_role: Annotated[str | None, OrgRoleOption] = None,
        description: Annotated[str, typer.Option(help="Who or what it is.")] = "",
        json_out: bool = JsonOption,
    ) -> None:
        cli = ctx_of(ctx)
        with reported(cli):
            created = cli.client().create_principal(kind, name, org_role=org_role, description=description)
            print_json(created) if json_out else typer.echo(f"created {label} {created.name}")

    @group.command("list", help=f"List {label}s, one page at a time.")
    def list_(
        ctx: typer.Context,
        max_results: Annotated[int | None, PageSizeOption] = None,
        page_token: Annotated[str | None, PageTokenOption] = None,
        json_out: bool = JsonOption,
    ) -> None:
        cli = ctx_of(ctx)
        with reported(cli):
            page = cli.client().list_principals(kind, max_results=max_results, page_token=page_token)
            if json_out:
                print_json({"principals": page.items, "next_page_token": page.next_page_token})
                return
            print_table(
                label.title() + "s",
                ["name", "org role", "source", "state", "created"],
                [_principal_row(p) for p in page.items],
            )
            if page.next_page_token:
                typer.echo(f"more: --page-token {page.next_page_token}")

    @group.command("show", help=f"Show one {label}.")
    def show(ctx: typer.Context, name: str, json_out: bool = JsonOption) -> None:
        cli = ctx_of(ctx)
        with reported(cli):
            found = cli.client().get_principal(kind, name)
            print_json(found) if json_out else print_fields(f"{label.title()} {name}", found.model_dump())

    @group.command("update", help=f"Change a {label}'s org role or description, or disable/enable it.")
    def update(
        ctx: typer.Context,
        name: str,
        org_role: Annotated[str | None, typer.Option("--org-role", help="org_admin, auditor or none.")] = None,
        description: Annotated[str | None, typer.Option(help="New description.")] = None,
        disabled: Annotated[
            bool | None, typer.Option("--disable/--enable", help="Disable (all its tokens stop working) or enable.")
        ] = None,
        json_out: bool = JsonOption,
    ) -> None:
        cli = ctx_of(ctx)
        with reported(cli):
            changes: dict[str, object] = {}
            if org_role is not None:
                changes["org_role"] = None if org_role == "none" else org_role
            if description is not None:
                changes["description"] = description
            if disabled is not None:
                changes["disabled"] = disabled
            updated = cli.client().update_principal(kind, name, **changes)
            print_json(updated) if json_out else typer.echo(f"updated {label} {updated.name}")


_principal_commands(users, USER, "user")
_principal_commands(service_accounts, SERVICE_ACCOUNT, "service account")


# -- tokens -------------------------------------------------------------------------------
def _token_row(t: TokenOut) -> list[str]:
    return [
        t.prefix,
        t.name,
        t.status,
        ", ".join(t.scopes) if t.scopes is not None else "all",
        f"{t.expires_at:%Y-%m-%d}",
        f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never",
    ]


@tokens.command("create")
def create_token(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="What the token is for (a label).")],
    principal: Annotated[str | None, PrincipalOption] = None,
    expires_in_days: Annotated[
        int | None, typer.Option("--expires-in-days", help="Lifetime (default: the server's auth.token_default_days).")
    ] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", help="Limit the token to this permission (repeat for several; default: no limit)."),
    ] = None,
    json_out: bool = JsonOption,
) -> None:
    """Issue an API token (to yourself, or --principal). The token is printed this once."""
    cli = ctx_of(ctx)
    with reported(cli):
        token: TokenCreated = cli.client().create_token(
            name, principal=principal, expires_in_days=expires_in_days, scopes=scope or None
        )
        if json_out:
            print_json(token)
            return
        show_token(token)


@tokens.command("list")
def list_tokens(
    ctx: typer.Context,
    principal: Annotated[str | None, PrincipalOption] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include revoked and expired tokens.")] = False,
    max_results: Annotated[int | None, PageSizeOption] = None,
    page_token: Annotated[str | None, PageTokenOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """List API tokens by prefix (secrets are never shown again), newest first."""
    cli = ctx_of(ctx)
    with reported(cli):
        page = cli.client().list_tokens(
            principal=principal, include_inactive=all_, max_results=max_results, page_token=page_token
        )
        if json_out:
            print_json({"tokens": page.items, "next_page_token": page.next_page_token})
            return
        print_table(
            f"API tokens of {principal or 'you'}",
            ["prefix", "name", "status", "scopes", "expires", "last used"],
            [_token_row(t) for t in page.items],
        )
        if page.next_page_token:
            typer.echo(f"more: --page-token {page.next_page_token}")


@tokens.command("revoke")
def revoke_token(
    ctx: typer.Context,
    prefix: Annotated[str, typer.Argument(help="The token's prefix, as `tokens list` shows it.")],
    principal: Annotated[str | None, PrincipalOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Revoke a token: it stops working at once (idempotent)."""
    cli = ctx_of(ctx)
    with reported(cli):
        token = cli.client().revoke_token(prefix, principal=principal)
        print_json(token) if json_out else typer.echo(f"revoked token {token.prefix} of {token.principal}")


# -- members ------------------------------------------------------------------------------
@members.command("list")
def list_members(
    ctx: typer.Context,
    project: Annotated[str | None, ProjectOption] = None,
    max_results: Annotated[int | None, PageSizeOption] = None,
    page_token: Annotated[str | None, PageTokenOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """List a project's members and their roles."""
    cli = ctx_of(ctx)
    with reported(cli):
        page = cli.client().list_members(project=project, max_results=max_results, page_token=page_token)
        if json_out:
            print_json({"members": page.items, "next_page_token": page.next_page_token})
            return
        print_table(
            "Members",
            ["principal", "kind", "role", "added by", "added"],
            [
                [m.principal, m.kind, m.role, m.created_by, m.created_at.isoformat(timespec="seconds")]
                for m in page.items
            ],
        )
        if page.next_page_token:
            typer.echo(f"more: --page-token {page.next_page_token}")


@members.command("add")
def add_member(
    ctx: typer.Context,
    principal: Annotated[str, typer.Argument(help="User or service account.")],
    role: Annotated[str, typer.Option("--role", help="viewer, developer, maintainer, admin, invoker or runner.")],
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Give PRINCIPAL a role in the project (replacing the role it had there)."""
    cli = ctx_of(ctx)
    with reported(cli):
        member = cli.client().set_member(principal, role, project=project)
        print_json(member) if json_out else typer.echo(f"{member.principal} is now {member.role}")


@members.command("remove")
def remove_member(
    ctx: typer.Context,
    principal: str,
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Take PRINCIPAL's role in the project away."""
    cli = ctx_of(ctx)
    with reported(cli):
        client = cli.client()
        client.remove_member(principal, project=project)
        if json_out:
            print_json({"removed": principal, "project": client._project(project)})
        else:
            typer.echo(f"removed {principal}")
