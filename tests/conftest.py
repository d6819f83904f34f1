"""Shared fixtures. Every store-touching test runs twice: on SQLite and on PostgreSQL.

PostgreSQL: one fresh database per test session (``shipyard_test_<random>``) migrated
to head through Alembic, then emptied between tests. Outside CI the PostgreSQL half is
skipped with a reason when no server answers; with ``CI=true`` it is an error instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import delete
from typer.testing import CliRunner

from shipyard.auth.bootstrap import create_user_with_token
from shipyard.client import Client
from shipyard.demo.background_server import serve_in_thread
from shipyard.events.context import Actor
from shipyard.projects.tables import DEFAULT_PROJECT, Project
from shipyard.server.app import create_app
from shipyard.settings import Settings, load_settings
from shipyard.store.base import Base
from shipyard.store.engine import Database
from shipyard.store.schema import prepare, upgrade

PG_ADMIN = os.environ.get("SHIPYARD_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI") == "true"


def _pg_reachable() -> str | None:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).splitlines()[0]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    problem = _pg_reachable()
    if problem is not None:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI but unreachable: {problem}")
        pytest.skip(f"PostgreSQL unreachable ({problem}); start it with scripts/services.sh")
    name = f"shipyard_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0]
    url = f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"
    db = Database(url)
    upgrade(db)
    db.dispose()
    try:
        yield url
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shipyard.db'}"
        return
    url: str = request.getfixturevalue("postgres_url")
    yield url
    _empty(url)


def _empty(url: str) -> None:
    """Remove every row a test wrote, keeping the migrated schema and `default`."""
    db = Database(url)
    try:
        with db.session() as session:
            for table in reversed(Base.metadata.sorted_tables):
                if table.name == Project.__tablename__:
                    session.execute(delete(table).where(table.c.name != DEFAULT_PROJECT))
                else:
                    session.execute(delete(table))
    finally:
        db.dispose()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def settings(home: Path, database_url: str) -> Settings:
    return load_settings({"home": str(home), "database.url": database_url, "logging.level": "WARNING"}).settings


@pytest.fixture
def client(settings: Settings) -> Iterator[Client]:
    """The SDK in local mode: the real app, in-process."""
    with Client(settings=settings) as c:
        yield c


def bootstrap_admin(settings: Settings, name: str = "admin") -> str:
    """Create (or reuse) an org admin straight in the test's database; return a new token
    for it (what `shipyard admin create-user NAME --admin` does)."""
    db = Database(settings.database_url, settings.database)
    try:
        prepare(db, auto_upgrade=False)
        _, token = create_user_with_token(db, Actor("tests"), name, settings.auth, org_role="org_admin", exist_ok=True)
    finally:
        db.dispose()
    return token.token


@pytest.fixture
def admin_token(settings: Settings) -> str:
    return bootstrap_admin(settings)


@pytest.fixture
def server_url(settings: Settings, admin_token: str) -> Iterator[str]:
    """A real uvicorn server (server mode: authenticated) on a free loopback port over the
    test's stores. Call it with ``admin_token`` as a Bearer token."""
    app = create_app(settings)
    with serve_in_thread(app) as url:
        yield url


@pytest.fixture
def remote(server_url: str, settings: Settings, admin_token: str) -> Iterator[Client]:
    """The SDK over HTTP against :func:`server_url`, as an org admin."""
    with Client(server_url, settings=settings, token=admin_token) as c:
        yield c


@pytest.fixture(params=["local", "http"])
def any_client(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Client]:
    """The same test through local mode and through a real server (as an org admin)."""
    if request.param == "local":
        with Client(settings=settings) as c:
            yield c
        return
    token = bootstrap_admin(settings)
    with serve_in_thread(create_app(settings)) as url, Client(url, settings=settings, token=token) as c:
        yield c


@pytest.fixture
def cli_args(home: Path, database_url: str) -> list[str]:
    return ["--home", str(home), "--database-url", database_url]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="session")
def iris_model() -> tuple[Any, Any]:
    """A small scikit-learn classifier on the bundled iris dataset, and its features."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    data = load_iris(as_frame=True)
    model = LogisticRegression(max_iter=300).fit(data.data, data.target)
    return model, data.data
