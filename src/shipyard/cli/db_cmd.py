from __future__ import annotations

import typer

from shipyard.cli.context import JsonOption, ctx_of, print_fields, print_json, reported
from shipyard.store import schema
from shipyard.store.engine import Database

app = typer.Typer(help="Metadata database: status and migrations.", no_args_is_help=True)


def _database(ctx: typer.Context) -> Database:
    settings = ctx_of(ctx).settings
    return Database(settings.database_url, settings.database)


@app.command("status")
def status(ctx: typer.Context, json_out: bool = JsonOption) -> None:
    """Show the schema revision of the database against this Shipyard's newest."""
    with reported(ctx_of(ctx)):
        db = _database(ctx)
        try:
            state = schema.schema_state(db)
        finally:
            db.dispose()
        data = {"database": db.display_url, "status": state.status.value, "revision": state.current, "head": state.head}
        print_json(data) if json_out else print_fields("Database schema", data)


@app.command("upgrade")
def upgrade(
    ctx: typer.Context,
    revision: str = typer.Option("head", help="Target revision."),
    json_out: bool = JsonOption,
) -> None:
    """Migrate the database to the newest schema (safe to run again)."""
    with reported(ctx_of(ctx)):
        db = _database(ctx)
        try:
            before = schema.schema_state(db)
            after = schema.upgrade(db, revision)
        finally:
            db.dispose()
        data = {"database": db.display_url, "from": before.current, "to": after.current, "status": after.status.value}
        print_json(data) if json_out else print_fields("Database upgraded", data)
