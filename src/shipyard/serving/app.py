"""The ASGI application of the data plane, built by :func:`create_serving_app`.

Raw ASGI, no framework per request: one :class:`~shipyard.serving.routes.Endpoints`
table, errors rendered in each protocol's own shape, the reply headers, the request
metrics and the prediction log's capture added here, in one place, after the reply is sent.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from starlette.types import Receive, Scope, Send

from shipyard.errors import InternalError, MethodNotAllowed, NotFound, ShipyardError
from shipyard.logging import get_logger
from shipyard.serving.codecs import mlflow, v1, v2
from shipyard.serving.dataplane import DataPlane, LoadFailure
from shipyard.serving.errors import http_status, rejection_reason, retry_after
from shipyard.serving.http import RequestContext, Response, json_response, send_response
from shipyard.serving.metrics import SAMPLE_EVERY_S, ServingMetrics
from shipyard.serving.model import ServedModel
from shipyard.serving.predlog import Capture, create_logger
from shipyard.serving.repository import ModelDirectory
from shipyard.serving.routes import Endpoints, Route
from shipyard.serving.settings import ServingSettings

if TYPE_CHECKING:
    from shipyard.serving.predlog import PredictionLogger, Sink

log = get_logger("shipyard.serving")
USER_KEY_HEADER = b"x-shipyard-key"  # the caller's own id for a request, to join feedback by
MIN_FLUSH_S = 1.0  # the prediction log gets at least this long to flush on shutdown


class ServingApp:
    """An ASGI app serving ``dataplane``. The ``lifespan`` protocol starts it (models load
    in the background) and stops it; without a lifespan, call :meth:`start`/:meth:`stop`."""

    def __init__(
        self,
        dataplane: DataPlane,
        metrics: ServingMetrics,
        on_load_failure: LoadFailure | None = None,
        prediction_log: PredictionLogger | None = None,
    ) -> None:
        self.dataplane = dataplane
        self.metrics = metrics
        self.settings = dataplane.settings
        self.endpoints = Endpoints(dataplane, metrics)
        self.prediction_log = prediction_log
        self._on_load_failure = on_load_failure
        self._sampler: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.prediction_log is not None:
            self.prediction_log.start()
        await self.dataplane.start(self._on_load_failure)
        if self.metrics.multiprocess_dir is not None:  # the other workers' /metrics read our gauges
            self._sampler = asyncio.get_running_loop().create_task(self._sample_periodically())

    async def _sample_periodically(self) -> None:
        while True:
            self.metrics.sample()
            await asyncio.sleep(SAMPLE_EVERY_S)

    async def stop(self) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
            self._sampler = None
        await self.dataplane.stop()
        self.metrics.sample()  # a worker process's last counts, before it exits
        if self.prediction_log is not None:  # flush what is buffered, within the grace period
            await asyncio.to_thread(self.prediction_log.close, max(MIN_FLUSH_S, self.settings.grace_period_s))

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
        ctx = RequestContext.from_scope(scope, receive, self.settings)
        response = await self.respond(ctx)
        await send_response(send, response, ctx.reply_headers())
        self.finish(ctx, response)

    async def respond(self, ctx: RequestContext) -> Response:
        """The reply to one request, whichever front received it: routed, handled, and every
        error rendered in its protocol's shape (never raised). Call :meth:`finish` once sent."""
        route, params, ctx.protocol = self.endpoints.match(ctx.path)
        ctx.route = route
        try:
            if route is None:
                raise NotFound(f"no such endpoint: {ctx.method} {ctx.path}", {"path": ctx.path})
            if ctx.method != route.method:
                raise MethodNotAllowed(
                    f"{ctx.method} is not allowed on {ctx.path}; use {route.method}", {"allow": route.method}
                )
            return await route.handler(ctx, **params)
        except ShipyardError as exc:
            return self.error_response(ctx, exc)
        except Exception as exc:
            log.error("unhandled error", request_id=ctx.request_id, error_type=type(exc).__name__, exc_info=True)
            return self.error_response(
                ctx, InternalError(f"internal error; the server log has the details under request id {ctx.request_id}")
            )
        finally:
            if ctx.counted and ctx.runtime is not None:
                ctx.runtime.leave()

    def finish(self, ctx: RequestContext, response: Response) -> None:
        """After the reply is sent: an inference request's metrics and prediction log."""
        route = ctx.route
        if route is not None and route.inference:
            self._observe(ctx, route, response.status)

    def error_response(self, ctx: RequestContext, error: ShipyardError) -> Response:
        ctx.error = error.message
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
        seconds = time.monotonic() - ctx.started
        self.metrics.observe_request(model, version, route.protocol, status, seconds)
        if status >= 400:
            reason = rejection_reason(status)
            if reason is not None:
                self.metrics.reject(model, version, route.protocol, reason)
        predlog = self.prediction_log
        if predlog is not None and runtime is not None and predlog.sampled(ctx.request_id):
            predlog.offer(self._capture(ctx, route.protocol, status, seconds))

    @staticmethod
    def _capture(ctx: RequestContext, protocol: str, status: int, seconds: float) -> Capture:
        """References to what the request carried and got: converted later, on the writer thread."""
        assert ctx.runtime is not None
        ok = status < 400
        key = ctx.headers.get(USER_KEY_HEADER)
        return Capture(
            request_id=ctx.request_id,
            ts=time.time() - seconds,
            model=ctx.runtime.name,
            version=ctx.runtime.version,
            protocol=protocol,
            status=status,
            latency_ms=seconds * 1000,
            features=ctx.inference.prepared if ctx.inference is not None else None,
            outputs=ctx.result.by_method if ok and ctx.result is not None else None,
            error=None if ok else ctx.error,
            user_key=None if key is None else key.decode("latin-1"),
        )


def create_serving_app(
    models: list[ServedModel],
    settings: ServingSettings | None = None,
    *,
    metrics: ServingMetrics | None = None,
    on_load_failure: LoadFailure | None = None,
    prediction_sink: Sink | None = None,
    directory: ModelDirectory | None = None,
) -> ServingApp:
    """The data plane for ``models`` as an ASGI app (run it with uvicorn, lifespan on).

    ``on_load_failure`` is called (on the event loop) for a model that failed to load at
    start; ``shipyard serve`` uses it to exit non-zero. ``directory`` is a model repository
    directory whose models can be loaded by name (:mod:`shipyard.serving.repository`). The prediction log writes to
    ``prediction_sink`` if given, else where ``settings.prediction_log.url`` says (if set)."""
    settings = settings or ServingSettings()
    metrics = metrics or ServingMetrics()
    prediction_log = create_logger(settings.prediction_log, metrics.prediction_log, sink=prediction_sink)
    dataplane = DataPlane(models, settings, metrics, directory)
    return ServingApp(dataplane, metrics, on_load_failure, prediction_log)


__all__ = ["ServingApp", "create_serving_app"]
