"""``shipyard admin``: bootstrap and break-glass, straight against the configured database.

These commands do not go through the API (there may be no one who could call it yet):
whoever can reach the database (its file, or its URL and password) is an administrator
anyway. They ignore ``--server-url``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from shipyard.auth import bootstrap
from shipyard.auth.identity import local_user
from shipyard.auth.schemas import TokenCreated
from shipyard.cli.context import CliContext, JsonOption, ctx_of, err, print_json, reported
from shipyard.errors import InvalidArgument
from shipyard.events.context import Actor
from shipyard.store import schema
from shipyard.store.engine import Database

app = typer.Typer(
    help="Bootstrap: create users and tokens directly in the database (no server needed).", no_args_is_help=True
)

ExpiresOption = typer.Option("--expires-in-days", help="Token lifetime (default: auth.token_default_days).")


@contextmanager
def _database(cli: CliContext) -> Iterator[Database]:
    settings = cli.settings
    db = Database(settings.database_url, settings.database)
    try:
        schema.prepare(db, settings.database.auto_upgrade)  # a fresh database is created here
        yield db
    finally:
        db.dispose()


def _actor() -> Actor:
    return Actor(f"{local_user()} (shipyard admin)")


def show_token(token: TokenCreated) -> None:
    """The token on a line of its own on stdout (never in a table that could truncate it),
    the warning on stderr."""
    err.print(
        f"token {token.prefix} for {token.principal}, expires {token.expires_at:%Y-%m-%d}. "
        "It is shown once and cannot be recovered: store it now (e.g. as SHIPYARD_CLIENT_TOKEN).",
        highlight=False,
    )
    typer.echo(token.token)


@app.command("create-user")
def create_user(
    ctx: typer.Context,
    name: str,
    admin: Annotated[bool, typer.Option("--admin", help="Make the user an organisation admin (org_admin).")] = False,
    auditor: Annotated[
        bool, typer.Option("--auditor", help="Make the user an auditor (read-only everywhere).")
    ] = False,
    expires_in_days: Annotated[int | None, ExpiresOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Create user NAME and print its first API token, exactly once."""
    cli = ctx_of(ctx)
    with reported(cli):
        if admin and auditor:
            raise InvalidArgument("choose one of --admin and --auditor", {"field": "org_role"})
        role = "org_admin" if admin else "auditor" if auditor else None
        with _database(cli) as db:
            user, token = bootstrap.create_user_with_token(
                db, _actor(), name, cli.settings.auth, org_role=role, expires_in_days=expires_in_days
            )
        if json_out:
            print_json({"user": user, "token": token})
            return
        err.print(f"created user {user.name}" + (f" ({role})" if role else ""), highlight=False)
        show_token(token)


@app.command("create-token")
def create_token(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The user or service account.")],
    token_name: Annotated[str, typer.Option("--name", help="What the token is for.")] = "issued by shipyard admin",
    expires_in_days: Annotated[int | None, ExpiresOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Issue a new API token to NAME (break-glass: a lost admin token), shown once."""
    cli = ctx_of(ctx)
    with reported(cli), _database(cli) as db:
        token = bootstrap.issue_token_for(
            db, _actor(), name, cli.settings.auth, token_name=token_name, expires_in_days=expires_in_days
        )
        if json_out:
            print_json(token)
            return
        show_token(token)
