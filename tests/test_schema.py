"""Migrations from empty on both databases, and the schema check before serving."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from typer.testing import CliRunner

import shipyard.tables  # noqa: F401  (every table on Base.metadata)
from shipyard.cli.main import app as cli
from shipyard.client import Client
from shipyard.errors import SchemaOutOfDate, SchemaTooNew
from shipyard.server.app import create_app
from shipyard.settings import Settings, load_settings
from shipyard.store import schema
from shipyard.store.base import Base
from shipyard.store.engine import Database


@pytest.fixture
def fresh_url(tmp_path: Path, database_url: str) -> Iterator[str]:
    """A database with no Shipyard tables: a new SQLite file, or the session's PostgreSQL
    database downgraded to base (and restored to head afterwards)."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    db = Database(database_url)
    schema.downgrade(db, "base")
    db.dispose()
    yield database_url
    db = Database(database_url)
    schema.upgrade(db)
    db.dispose()


def settings_for(home: Path, url: str, **extra: object) -> Settings:
    return load_settings({"home": str(home), "database.url": url, **extra}).settings


def test_migrate_up_from_empty_creates_every_table(fresh_url: str) -> None:
    db = Database(fresh_url)
    try:
        assert schema.schema_state(db).status is schema.SchemaStatus.EMPTY
        state = schema.upgrade(db)
        assert state.status is schema.SchemaStatus.CURRENT
        assert state.current == schema.head_revision()
        tables = set(inspect(db.engine).get_table_names())
        assert {t.name for t in Base.metadata.sorted_tables} <= tables
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT name FROM projects")).scalars().all() == ["default"]
        schema.upgrade(db)  # idempotent
        assert schema.schema_state(db).status is schema.SchemaStatus.CURRENT
    finally:
        db.dispose()


def test_migrations_match_the_models(fresh_url: str) -> None:
    """Alembic's autogenerate finds nothing to add: the migrations create the tables the
    code declares (columns, types, indexes, constraints)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    db = Database(fresh_url)
    try:
        schema.upgrade(db)
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
    finally:
        db.dispose()


def test_fresh_database_is_created_on_first_use(home: Path, fresh_url: str) -> None:
    with Client(settings=settings_for(home, fresh_url)) as client:
        assert [p.name for p in client.iter_projects()] == ["default"]


def test_unversioned_tables_are_refused(home: Path, fresh_url: str, runner: CliRunner) -> None:
    """Tables but no recorded revision: not a database Shipyard made. Refused, and the
    message does not suggest an upgrade that would fail."""
    db = Database(fresh_url)
    schema.upgrade(db)
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM alembic_version"))
    assert schema.schema_state(db).status is schema.SchemaStatus.UNVERSIONED
    db.dispose()
    with pytest.raises(SchemaOutOfDate, match="Shipyard did not create it"):
        create_app(settings_for(home, fresh_url))
    upgrade = runner.invoke(cli, ["--home", str(home), "--database-url", fresh_url, "db", "upgrade"])
    assert upgrade.exit_code == 6, upgrade.output
    assert "empty database" in upgrade.output
    db = Database(fresh_url)
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": schema.head_revision()})
    db.dispose()


def test_older_revision_is_refused_then_upgraded(home: Path, fresh_url: str, runner: CliRunner) -> None:
    db = Database(fresh_url)
    schema.upgrade(db, "0001")  # what an older Shipyard left behind
    state = schema.schema_state(db)
    db.dispose()
    assert state.status is schema.SchemaStatus.OUT_OF_DATE
    with pytest.raises(SchemaOutOfDate) as info:
        create_app(settings_for(home, fresh_url))
    assert info.value.details["fix"] == "shipyard db upgrade"
    status = runner.invoke(cli, ["--home", str(home), "--database-url", fresh_url, "status"])
    assert status.exit_code == 6, status.output
    assert "fix: shipyard db upgrade" in status.output
    # database.auto_upgrade migrates instead of refusing
    app = create_app(settings_for(home, fresh_url, **{"database.auto_upgrade": True}))
    app.state.shipyard.db.dispose()
    db = Database(fresh_url)
    assert schema.schema_state(db).status is schema.SchemaStatus.CURRENT
    schema.downgrade(db, "0001")
    db.dispose()
    upgraded = runner.invoke(cli, ["--home", str(home), "--database-url", fresh_url, "db", "upgrade", "--json"])
    assert upgraded.exit_code == 0, upgraded.output
    assert '"from": "0001"' in upgraded.output


def test_unreachable_database_is_unavailable(home: Path, runner: CliRunner) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:9/nothing"
    result = runner.invoke(cli, ["--home", str(home), "--database-url", url, "status"])
    assert result.exit_code == 5, result.output
    assert "unreachable" in result.output


def test_newer_database_is_always_refused(home: Path, fresh_url: str, runner: CliRunner) -> None:
    db = Database(fresh_url)
    schema.upgrade(db)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'ffff_from_the_future'"))
    db.dispose()
    for auto in (False, True):
        with pytest.raises(SchemaTooNew) as info:
            create_app(settings_for(home, fresh_url, **{"database.auto_upgrade": auto}))
        assert "ffff_from_the_future" in info.value.message
    upgrade = runner.invoke(cli, ["--home", str(home), "--database-url", fresh_url, "db", "upgrade"])
    assert upgrade.exit_code == 6
    assert "does not know" in upgrade.output
    db = Database(fresh_url)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": schema.head_revision()})
    db.dispose()


def test_db_cli_status_and_upgrade(home: Path, fresh_url: str, runner: CliRunner) -> None:
    args = ["--home", str(home), "--database-url", fresh_url]
    status = runner.invoke(cli, [*args, "db", "status", "--json"])
    assert status.exit_code == 0, status.output
    assert '"status": "empty"' in status.output
    up = runner.invoke(cli, [*args, "db", "upgrade", "--json"])
    assert up.exit_code == 0, up.output
    assert f'"to": "{schema.head_revision()}"' in up.output
    status = runner.invoke(cli, [*args, "db", "status", "--json"])
    assert '"status": "current"' in status.output
