"""The ASGI application of the data plane, built by :func:`create_serving_app`.

Raw ASGI, no framework per request: one :class:`~shipyard.serving.routes.Endpoints`
table, errors rendered in each protocol's own shape, the reply headers and the request
metrics added here, in one place.
"""

from __future__ import annotations

import time

from starlette.types import Receive, Scope, Send

from shipyard.errors import InternalError, MethodNotAllowed, NotFound, ShipyardError
from shipyard.logging import get_logger
from shipyard.serving.codecs import mlflow, v1, v2
from shipyard.serving.dataplane import DataPlane, LoadFailure
from shipyard.serving.errors import http_status, rejection_reason, retry_after
from shipyard.serving.http import RequestContext, Response, json_response, send_response
from shipyard.serving.metrics import ServingMetrics
from shipyard.serving.model import ServedModel
from shipyard.serving.routes import Endpoints, Route
from shipyard.serving.settings import ServingSettings

log = get_logger("shipyard.serving")


class ServingApp:
    """An ASGI app serving ``dataplane``. The ``lifespan`` protocol starts it (models load
    in the background) and stops it; without a lifespan, call :meth:`start`/:meth:`stop`."""

    def __init__(
        self, dataplane: DataPlane, metrics: ServingMetrics, on_load_failure: LoadFailure | None = None
    ) -> None:
        self.dataplane = dataplane
        self.metrics = metrics
        self.settings = dataplane.settings
        self.endpoints = Endpoints(dataplane, metrics)
        self._on_load_failure = on_load_failure

    async def start(self) -> None:
        await self.dataplane.start(self._on_load_failure)

    async def stop(self) -> None:
        await self.dataplane.stop()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.start()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        ctx = RequestContext(scope, receive, self.settings)
        route, params, ctx.protocol = self.endpoints.match(scope["path"])
        try:
            if route is None:
                raise NotFound(f"no such endpoint: {ctx.method} {scope['path']}", {"path": scope["path"]})
            if ctx.method != route.method:
                raise MethodNotAllowed(
                    f"{ctx.method} is not allowed on {scope['path']}; use {route.method}", {"allow": route.method}
                )
            response = await route.handler(ctx, **params)
        except ShipyardError as exc:
            response = self._error(ctx, exc)
        except Exception as exc:
            log.error("unhandled error", request_id=ctx.request_id, error_type=type(exc).__name__, exc_info=True)
            response = self._error(
                ctx, InternalError(f"internal error; the server log has the details under request id {ctx.request_id}")
            )
        finally:
            if ctx.counted and ctx.runtime is not None:
                ctx.runtime.inflight.dec()
        await send_response(send, response, ctx.reply_headers())
        if route is not None and route.inference:
            self._observe(ctx, route, response.status)

    def _error(self, ctx: RequestContext, error: ShipyardError) -> Response:
        status = http_status(error)
        if status >= 500 and not isinstance(error, InternalError):
            log.warning("request failed", request_id=ctx.request_id, status=status, error=error.message)
        if ctx.protocol == "mlflow":
            response = json_response(mlflow.error_body(status, error.message), status)
        else:
            response = json_response((v1 if ctx.protocol == "v1" else v2).error_body(error.message), status)
        seconds = retry_after(error)
        if seconds is not None:
            response.headers.append((b"retry-after", str(seconds).encode()))
        if isinstance(error, MethodNotAllowed):
            response.headers.append((b"allow", str(error.details.get("allow", "")).encode()))
        return response

    def _observe(self, ctx: RequestContext, route: Route, status: int) -> None:
        runtime = ctx.runtime
        model, version = (runtime.name, runtime.version) if runtime is not None else ("", "")
        self.metrics.observe_request(model, version, route.protocol, status, time.monotonic() - ctx.started)
        if status >= 400:
            reason = rejection_reason(status)
            if reason is not None:
                self.metrics.reject(model, version, route.protocol, reason)


def create_serving_app(
    models: list[ServedModel],
    settings: ServingSettings | None = None,
    *,
    metrics: ServingMetrics | None = None,
    on_load_failure: LoadFailure | None = None,
) -> ServingApp:
    """The data plane for ``models`` as an ASGI app (run it with uvicorn, lifespan on).

    ``on_load_failure`` is called (on the loader thread) for a model that failed to load;
    ``shipyard serve`` uses it to exit non-zero."""
    settings = settings or ServingSettings()
    metrics = metrics or ServingMetrics()
    return ServingApp(DataPlane(models, settings, metrics), metrics, on_load_failure)


__all__ = ["ServingApp", "create_serving_app"]
