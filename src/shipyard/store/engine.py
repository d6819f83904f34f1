"""Engines and sessions for SQLite (embedded default) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from shipyard.errors import Conflict, InvalidArgument, Unavailable
from shipyard.settings import DatabaseSettings, mask_url_password

SUPPORTED = ("sqlite", "postgresql")


def _sqlite_pragmas(busy_timeout_ms: int) -> Any:
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        # pysqlite's own transaction handling fights SAVEPOINT/BEGIN; let SQLAlchemy emit them.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    return on_connect


def _sqlite_begin(conn: Any) -> None:
    # IMMEDIATE takes the write lock up front, so two writers queue on busy_timeout
    # instead of failing with "database is locked" when a reader upgrades to a writer.
    # Read-only sessions start a deferred transaction and never wait for writers (WAL).
    if conn.get_execution_options().get("shipyard_readonly"):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, cfg: DatabaseSettings) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise InvalidArgument(
            f"database.url is not a database URL: {mask_url_password(url)}", {"field": "database.url"}
        ) from exc
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED:
        raise InvalidArgument(
            f"database.url uses '{backend}'; Shipyard supports {', '.join(SUPPORTED)}",
            {"field": "database.url"},
        )
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed,
            echo=cfg.echo,
            connect_args={"check_same_thread": False, "timeout": cfg.busy_timeout_ms / 1000},
        )
        event.listen(engine, "connect", _sqlite_pragmas(cfg.busy_timeout_ms))
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(
        parsed,
        echo=cfg.echo,
        pool_size=cfg.pool_size,
        max_overflow=cfg.pool_size,
        pool_pre_ping=True,
    )


class Database:
    """An engine plus a session factory; the unit of work is :meth:`session`."""

    def __init__(self, url: str, cfg: DatabaseSettings | None = None) -> None:
        self.url = url
        self.engine = make_engine(url, cfg or DatabaseSettings())
        self.sessions = sessionmaker(self.engine, expire_on_commit=False, autoflush=True)
        self.readonly_sessions = sessionmaker(
            self.engine.execution_options(shipyard_readonly=True), expire_on_commit=False
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def display_url(self) -> str:
        return mask_url_password(self.engine.url.render_as_string(hide_password=True))

    @contextmanager
    def session(self, readonly: bool = False) -> Iterator[Session]:
        """Commit on success, roll back on error; database errors become Shipyard errors."""
        session = self.readonly_sessions() if readonly else self.sessions()
        try:
            with translate_db_errors():
                yield session
                session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def ping(self) -> None:
        with translate_db_errors(), self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


@contextmanager
def translate_db_errors() -> Iterator[None]:
    """The one boundary where SQLAlchemy's exceptions become Shipyard errors."""
    try:
        yield
    except IntegrityError as exc:
        raise Conflict("the change conflicts with existing data", {"reason": str(exc.orig).splitlines()[0]}) from exc
    except OperationalError as exc:
        raise Unavailable(
            "the metadata database is unreachable or busy", {"reason": str(exc.orig).splitlines()[0]}
        ) from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise Unavailable("lost the connection to the metadata database") from exc
        raise
