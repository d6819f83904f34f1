"""The route table of the data plane and its handlers: parse with a codec, call the
:class:`DataPlane`, encode. Matching is a split on ``/``, no regular expressions.

=========================================================  ======  ========
path                                                       method  protocol
=========================================================  ======  ========
/v2/health/live, /v2/health/ready                          GET     v2
/v2                                                        GET     v2
/v2/models/{name}[/versions/{v}]                           GET     v2
/v2/models/{name}[/versions/{v}]/ready                     GET     v2
/v2/models/{name}[/versions/{v}]/infer                     POST    v2
/v2/repository/index                                       POST    v2
/v2/repository/models/{name}/load, …/unload                POST    v2
/v1/models, /v1/models/{name}                              GET     v1
/v1/models/{name}:predict                                  POST    v1
/invocations                                               POST    mlflow
/ping, /health, /version                                   GET     mlflow
/metrics                                                   GET     metrics
=========================================================  ======  ========
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from shipyard.errors import InvalidArgument, NotFound
from shipyard.serving.codecs import mlflow, repository, v1, v2
from shipyard.serving.dataplane import DataPlane
from shipyard.serving.http import RequestContext, Response, json_response, text_response
from shipyard.serving.metrics import ServingMetrics
from shipyard.serving.runtime import ModelRuntime

Handler = Callable[..., Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Route:
    protocol: str
    method: str
    handler: Handler
    inference: bool = False


class Endpoints:
    def __init__(self, dataplane: DataPlane, metrics: ServingMetrics) -> None:
        self.dp = dataplane
        self.metrics = metrics
        self.live = Route("v2", "GET", self._live)
        self.ready = Route("v2", "GET", self._ready)
        self.server_metadata = Route("v2", "GET", self._server_metadata)
        self.model_metadata = Route("v2", "GET", self._model_metadata)
        self.model_ready = Route("v2", "GET", self._model_ready)
        self.v2_infer = Route("v2", "POST", self._v2_infer, inference=True)
        self.repository_index = Route("v2", "POST", self._repository_index)
        self.repository_load = Route("v2", "POST", self._repository_load)
        self.repository_unload = Route("v2", "POST", self._repository_unload)
        self.v1_list = Route("v1", "GET", self._v1_list)
        self.v1_status = Route("v1", "GET", self._v1_status)
        self.v1_predict = Route("v1", "POST", self._v1_predict, inference=True)
        self.invocations = Route("mlflow", "POST", self._invocations, inference=True)
        self.ping = Route("mlflow", "GET", self._ping)
        self.version = Route("mlflow", "GET", self._version)
        self.metrics_route = Route("metrics", "GET", self._metrics)

    def match(self, path: str) -> tuple[Route | None, dict[str, str], str]:
        """``(route, path params, protocol)``; the protocol shapes a 404's body."""
        parts = path.strip("/").split("/")
        n = len(parts)
        head = parts[0]
        if head == "v2":
            if n == 1:
                return self.server_metadata, {}, "v2"
            if n == 3 and parts[1] == "health" and parts[2] in ("live", "ready"):
                return (self.live if parts[2] == "live" else self.ready), {}, "v2"
            if parts[1] == "repository":
                if n == 3 and parts[2] == "index":
                    return self.repository_index, {}, "v2"
                if n == 5 and parts[2] == "models" and parts[3] and parts[4] in ("load", "unload"):
                    action = self.repository_load if parts[4] == "load" else self.repository_unload
                    return action, {"name": parts[3]}, "v2"
                return None, {}, "v2"
            if n >= 3 and parts[1] == "models" and parts[2]:
                params = {"name": parts[2]}
                rest = parts[3:]
                if len(rest) >= 2 and rest[0] == "versions" and rest[1]:
                    params["version"] = rest[1]
                    rest = rest[2:]
                if not rest:
                    return self.model_metadata, params, "v2"
                if rest == ["ready"]:
                    return self.model_ready, params, "v2"
                if rest == ["infer"]:
                    return self.v2_infer, params, "v2"
            return None, {}, "v2"
        if head == "v1":
            if n == 2 and parts[1] == "models":
                return self.v1_list, {}, "v1"
            if n == 3 and parts[1] == "models" and parts[2]:
                name = parts[2]
                if name.endswith(":predict"):
                    return self.v1_predict, {"name": name[: -len(":predict")]}, "v1"
                return self.v1_status, {"name": name}, "v1"
            return None, {}, "v1"
        if n == 1:
            route = {
                "invocations": self.invocations,
                "ping": self.ping,
                "health": self.ping,
                "version": self.version,
                "metrics": self.metrics_route,
            }.get(head)
            if route is not None:
                return route, {}, route.protocol
        return None, {}, "v2"

    # -- shared ----------------------------------------------------------------------
    def _enter(self, ctx: RequestContext, name: str, version: str | None) -> ModelRuntime:
        """The model for an inference request: 404, then (counted in flight) 503 or 429
        before the body is read."""
        runtime = self.dp.runtime(name, version)
        ctx.runtime = runtime
        ctx.counted = True
        runtime.enter()
        self.dp.admit(runtime)
        return runtime

    async def _read_body(self, ctx: RequestContext, runtime: ModelRuntime) -> bytes:
        """An inference request's body still arriving (a busy model's next batch waits for it)."""
        runtime.batcher.arriving(1)
        try:
            return await ctx.body()
        finally:
            runtime.batcher.arriving(-1)

    # -- V2 ----------------------------------------------------------------------------
    async def _live(self, ctx: RequestContext) -> Response:
        return json_response({"live": self.dp.live})

    async def _ready(self, ctx: RequestContext) -> Response:
        ready = self.dp.ready
        return json_response({"ready": ready}, 200 if ready else 503)

    async def _server_metadata(self, ctx: RequestContext) -> Response:
        return json_response(self.dp.server_metadata())

    async def _model_metadata(self, ctx: RequestContext, name: str, version: str | None = None) -> Response:
        ctx.runtime = self.dp.runtime(name, version)
        return json_response(self.dp.model_metadata(name, version))

    async def _model_ready(self, ctx: RequestContext, name: str, version: str | None = None) -> Response:
        runtime = ctx.runtime = self.dp.runtime(name, version)
        ready = runtime.ready and not self.dp.draining
        return json_response({"name": runtime.name, "ready": ready}, 200 if ready else 503)

    async def _v2_infer(self, ctx: RequestContext, name: str, version: str | None = None) -> Response:
        runtime = self._enter(ctx, name, version)
        body = ctx.whole_body() or await self._read_body(ctx, runtime)
        request, request_id = v2.decode(body, ctx.deadline)
        ctx.inference = request  # ctx keeps the request and its answer for the prediction log
        result = ctx.result = await self.dp.infer_on(runtime, request)
        return json_response(v2.encode(result, request_id or ctx.request_id, request.outputs))

    # -- V2 model repository extension -------------------------------------------------
    async def _repository_index(self, ctx: RequestContext) -> Response:
        ready_only = repository.decode_index(await ctx.body())
        return json_response(self.dp.repository_index(ready_only=ready_only))

    async def _repository_load(self, ctx: RequestContext, name: str) -> Response:
        repository.decode_load(await ctx.body())
        return json_response(await self.dp.load(name))

    async def _repository_unload(self, ctx: RequestContext, name: str) -> Response:
        repository.decode_unload(await ctx.body())
        return json_response(await self.dp.unload(name))

    # -- V1 ----------------------------------------------------------------------------
    async def _v1_list(self, ctx: RequestContext) -> Response:
        return json_response({"models": self.dp.names()})

    async def _v1_status(self, ctx: RequestContext, name: str) -> Response:
        runtime = ctx.runtime = self.dp.runtime(name)
        ready = runtime.ready and not self.dp.draining
        return json_response({"name": runtime.name, "ready": ready}, 200 if ready else 503)

    async def _v1_predict(self, ctx: RequestContext, name: str) -> Response:
        runtime = self._enter(ctx, name, None)
        body = ctx.whole_body() or await self._read_body(ctx, runtime)
        request = ctx.inference = v1.decode(body, ctx.query, ctx.deadline)  # as for V2
        result = ctx.result = await self.dp.infer_on(runtime, request)
        return json_response(v1.encode(result))

    # -- MLflow ------------------------------------------------------------------------
    def _single_model(self, ctx: RequestContext) -> tuple[str, str | None]:
        name = ctx.query.get("model")
        if name is not None:
            return name, ctx.query.get("version")
        names = self.dp.names()
        if not names:
            raise NotFound("this server has no model loaded; load one with POST /v2/repository/models/NAME/load")
        if len(names) != 1:
            raise InvalidArgument(
                f"this server hosts several models ({', '.join(names)}); choose one with ?model=NAME "
                "or use /v2/models/NAME/infer",
                {"field": "model", "expected": names},
            )
        return names[0], None

    async def _invocations(self, ctx: RequestContext) -> Response:
        name, version = self._single_model(ctx)
        runtime = self._enter(ctx, name, version)
        content_type = ctx.header(b"content-type")
        body = ctx.whole_body() or await self._read_body(ctx, runtime)
        request = ctx.inference = mlflow.decode(body, content_type, ctx.query, ctx.deadline)  # as for V2
        result = ctx.result = await self.dp.infer_on(runtime, request)
        return json_response(mlflow.encode(result))

    async def _ping(self, ctx: RequestContext) -> Response:
        return text_response("\n", 200 if self.dp.ready else 503)

    async def _version(self, ctx: RequestContext) -> Response:
        return text_response(str(self.dp.server_metadata()["version"]))

    async def _metrics(self, ctx: RequestContext) -> Response:
        body, content_type = self.metrics.render()
        return Response(200, body, content_type.encode())


__all__ = ["Endpoints", "Route"]
