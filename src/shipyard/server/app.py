"""The app factory. Nothing is configured at import: ``create_app(settings)`` builds it all."""

from __future__ import annotations

import getpass
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from shipyard import __version__
from shipyard.artifacts.backends import clean_staging, open_blob_store
from shipyard.logging import configure_logging
from shipyard.server import errors
from shipyard.server.metrics import HttpMetrics
from shipyard.server.middleware import RequestContextMiddleware
from shipyard.server.routes import blobs, events, experiments, health, models, projects, runs
from shipyard.server.state import AppState
from shipyard.settings import Settings
from shipyard.store import schema
from shipyard.store.engine import Database

API_DESCRIPTION = """Shipyard's native REST API. Every error is
`{"error": {"code", "message", "details"}}`; every reply carries `X-Request-ID`;
every list is paged with `max_results` and an opaque `page_token`."""


def local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "local"


def build_state(settings: Settings) -> AppState:
    """Open both stores and check the schema. Raises before serving if the database is
    out of date or too new (see :func:`shipyard.store.schema.prepare`)."""
    db = Database(settings.database_url, settings.database)
    try:
        state = schema.prepare(db, settings.database.auto_upgrade)
        blobs = open_blob_store(settings.artifacts_url, settings.artifacts, settings.home)
    except BaseException:
        db.dispose()
        raise
    clean_staging(blobs)
    return AppState(settings=settings, db=db, blobs=blobs, schema=state, metrics=HttpMetrics(CollectorRegistry()))


def create_app(settings: Settings, *, embedded: bool = False) -> FastAPI:
    """Build the app. ``embedded=True`` is local mode inside a user's process: it leaves
    the host's logging configuration alone and writes no access log."""
    if not embedded:
        configure_logging(settings.logging)
    app_state = build_state(settings)
    if embedded:
        app_state.default_actor = local_user()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        app_state.db.dispose()

    app = FastAPI(
        title="Shipyard",
        version=__version__,
        description=API_DESCRIPTION,
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.shipyard = app_state
    errors.install(app)
    for router in (
        health.router,
        projects.router,
        blobs.router,
        experiments.router,
        runs.router,
        models.router,
        events.router,
    ):
        app.include_router(router)
    # The middleware stack, outermost first: request context (ids, logs, metrics and the
    # last-resort error envelope) wraps everything Shipyard serves.
    app.add_middleware(RequestContextMiddleware, metrics=app_state.metrics, access_log=not embedded)
    return app


def app_from_environment() -> FastAPI:
    """Factory for multi-worker uvicorn (``--workers N``): each worker process builds its
    app from the settings layers (the CLI passes its flags down as SHIPYARD_* variables)."""
    from shipyard.settings import load_settings

    return create_app(load_settings().settings)
