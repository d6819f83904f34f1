"""The app factory. Nothing is configured at import: ``create_app(settings)`` builds it all."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from prometheus_client import CollectorRegistry

from shipyard import __version__
from shipyard.artifacts.backends import clean_staging, open_blob_store
from shipyard.audit import service as audit_log
from shipyard.auth import bootstrap
from shipyard.auth.authentication import Authenticator
from shipyard.auth.identity import Identity, local_user
from shipyard.logging import configure_logging, get_logger
from shipyard.monitoring.scheduler import start_scheduler
from shipyard.server import authz, errors
from shipyard.server.headers import SecurityHeadersMiddleware
from shipyard.server.metrics import HttpMetrics
from shipyard.server.middleware import RequestContextMiddleware
from shipyard.server.routes import (
    alerts,
    approvals,
    audit,
    blobs,
    docs,
    endpoints,
    events,
    experiments,
    gates,
    health,
    identity,
    members,
    models,
    monitors,
    projects,
    runs,
    tokens,
)
from shipyard.server.state import AppState
from shipyard.settings import Settings
from shipyard.store import schema
from shipyard.store.engine import Database

API_DESCRIPTION = """Shipyard's native REST API. Every error is
`{"error": {"code", "message", "details"}}`; every reply carries `X-Request-ID`;
every list is paged with `max_results` and an opaque `page_token`. Every operation but the
public probes and this document needs `Authorization: Bearer <token>`; each names what it
requires in `x-shipyard-permission`."""

log = get_logger("shipyard.server")


def build_state(settings: Settings) -> AppState:
    """Open both stores and check the schema. Raises before serving if the database is
    out of date or too new (see :func:`shipyard.store.schema.prepare`)."""
    db = Database(settings.database_url, settings.database)
    try:
        state = schema.prepare(db, settings.database.auto_upgrade)
        blobs = open_blob_store(settings.artifacts_url, settings.artifacts, settings.home)
        notary = audit_log.attach(db, settings)
    except BaseException:
        db.dispose()
        raise
    clean_staging(blobs)
    return AppState(
        settings=settings,
        db=db,
        blobs=blobs,
        schema=state,
        metrics=HttpMetrics(CollectorRegistry()),
        notary=notary,
    )


def create_app(settings: Settings, *, embedded: bool = False) -> FastAPI:
    """Build the app.

    A server (the default) authenticates every request that is not declared public and
    authorizes it against the route's declared permission (see
    :mod:`shipyard.server.authz`). ``embedded=True`` is local mode inside a user's
    process: the OS user acts as a local admin without a token, the host's logging
    configuration is left alone and no access log is written.
    """
    if not embedded:
        configure_logging(settings.logging)
    app_state = build_state(settings)
    try:
        if embedded:
            app_state.default_actor = local_user()
            app_state.local_identity = Identity.local(app_state.default_actor)
        else:
            app_state.authenticator = Authenticator(settings.auth)
            hint = bootstrap.missing_users_hint(app_state.db)
            if hint:
                log.warning(hint)
    except BaseException:
        app_state.db.dispose()
        raise

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        scheduler = None if embedded else start_scheduler(app_state.db, settings)  # monitors' cron schedules
        yield
        if scheduler is not None:
            scheduler.stop()
        app_state.db.dispose()
        if app_state.authenticator is not None and app_state.authenticator.oidc is not None:
            app_state.authenticator.oidc.close()

    app = FastAPI(
        title="Shipyard",
        version=__version__,
        description=API_DESCRIPTION,
        # Served by routes.docs instead, so they declare themselves public like every route.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        lifespan=lifespan,
        # Deny by default: on a server, a route that declares no access rule is refused.
        dependencies=[] if embedded else [Depends(authz.require_declaration)],
    )
    app.state.shipyard = app_state
    errors.install(app)
    for router in (
        docs.router,
        health.router,
        tokens.router,
        identity.router,
        projects.router,
        members.router,
        blobs.router,
        experiments.router,
        runs.router,
        models.router,
        approvals.router,
        gates.router,
        endpoints.router,
        events.router,
        audit.router,
        alerts.router,
        monitors.router,
    ):
        app.include_router(router)
    # The middleware stack, innermost first (each add_middleware wraps the stack so far):
    # CORS only when origins are configured (closed otherwise: no CORS headers at all);
    # request context (ids, logs, metrics and the last-resort error envelope) around
    # everything Shipyard serves; security headers outermost, a pure header stamp that
    # cannot fail, so even the last-resort envelope carries them.
    if settings.auth.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.auth.cors_origins,
            allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Range", "X-Request-ID", "X-Content-SHA256"],
            expose_headers=["X-Request-ID", "Content-Range", "ETag", "X-Content-SHA256", "Retry-After"],
            allow_credentials=False,  # bearer tokens, never cookies
            max_age=600,
        )
    app.add_middleware(RequestContextMiddleware, metrics=app_state.metrics, access_log=not embedded)
    app.add_middleware(SecurityHeadersMiddleware)
    return app


def app_from_environment() -> FastAPI:
    """Factory for multi-worker uvicorn (``--workers N``): each worker process builds its
    app from the settings layers (the CLI passes its flags down as SHIPYARD_* variables)."""
    from shipyard.settings import load_settings

    return create_app(load_settings().settings)
