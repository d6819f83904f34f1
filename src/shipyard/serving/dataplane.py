"""The protocol core: every transport (the REST adapters, in-process callers, later gRPC)
goes through one :class:`DataPlane` — model lookup, readiness, validation, batching,
deadlines, the model repository — and only shapes bytes on either side of it. Which
models exist and their lifecycle are the :class:`~shipyard.serving.repository.ModelRepository`'s."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from shipyard import __version__
from shipyard.errors import InvalidArgument
from shipyard.serving.errors import DeadlineExceeded, NotReady
from shipyard.serving.inputs import Data, Prepared
from shipyard.serving.metrics import ServingMetrics
from shipyard.serving.model import ServedModel
from shipyard.serving.outputs import PROBABILITIES
from shipyard.serving.repository import LoadFailure, ModelDirectory, ModelRepository
from shipyard.serving.runtime import ModelRuntime
from shipyard.serving.settings import ServingSettings


class InferenceRequest:
    """A decoded request, whatever protocol it came in. (Plain classes here, not dataclasses:
    see :class:`~shipyard.serving.http.Response`.)"""

    __slots__ = ("data", "deadline", "method", "outputs", "params", "prepared")

    def __init__(
        self,
        data: Data,
        method: str | None = None,
        outputs: list[str] | None = None,
        params: dict[str, Any] | None = None,
        deadline: float = math.inf,
    ) -> None:
        self.data = data
        self.method = method  # None: "predict", unless ``outputs`` asks for probabilities
        self.outputs = outputs  # output names wanted (V2); None: all
        self.params = params  # model params (used when the signature declares some)
        self.deadline = deadline  # time.monotonic() after which the answer is useless
        # ``data`` fitted to the signature, set by DataPlane.infer (the prediction log's)
        self.prepared: Prepared | None = None


class InferenceResult:
    __slots__ = ("by_method", "default_output", "model_name", "model_version")

    def __init__(self, model_name: str, model_version: str, default_output: str = "predictions") -> None:
        self.model_name = model_name
        self.model_version = model_version
        self.by_method: dict[str, Any] = {}  # method -> array or DataFrame
        self.default_output = default_output  # the name of predict's output when it is one array

    @property
    def output(self) -> Any:
        """The output of the one method that ran (V1, MLflow)."""
        return next(iter(self.by_method.values()))


class DataPlane:
    def __init__(
        self,
        models: list[ServedModel],
        settings: ServingSettings,
        metrics: ServingMetrics,
        directory: ModelDirectory | None = None,
    ) -> None:
        if not models and directory is None:
            raise InvalidArgument("serve at least one model, or give a model repository directory", {"field": "models"})
        self.settings = settings
        self.metrics = metrics
        self.draining = False
        self.repository = ModelRepository(models, settings, metrics, directory)

    # -- lifecycle -------------------------------------------------------------------
    async def start(self, on_load_failure: LoadFailure | None = None) -> None:
        """Start the batchers, and load the models not loaded yet in the background (so the
        server answers liveness meanwhile); ready once all are loaded and warmed up."""
        await self.repository.start(on_load_failure)

    def begin_drain(self) -> None:
        """Report not-ready from now on (the first step of a graceful shutdown). Safe in a
        signal handler: it only sets a flag (a log call there could deadlock on the stream's
        lock or raise on a dead parent's pipe); the server logs the drain from its loop."""
        self.draining = True

    async def stop(self) -> None:
        self.draining = True
        await self.repository.stop()

    # -- lookup and health -----------------------------------------------------------
    def runtimes(self) -> list[ModelRuntime]:
        return self.repository.runtimes()

    def runtime(self, name: str, version: str | None = None) -> ModelRuntime:
        return self.repository.runtime(name, version)

    @property
    def live(self) -> bool:
        return True

    @property
    def ready(self) -> bool:
        return not self.draining and self.repository.ready

    def names(self) -> list[str]:
        return self.repository.names()

    def server_metadata(self) -> dict[str, Any]:
        return {"name": self.settings.server_name, "version": __version__, "extensions": ["model_repository"]}

    # -- the model repository extension --------------------------------------------------
    def repository_index(self, *, ready_only: bool = False) -> list[dict[str, str]]:
        return self.repository.index(ready_only=ready_only)

    async def load(self, name: str) -> list[dict[str, str]]:
        self._check_running("load")
        return await self.repository.load(name)

    async def unload(self, name: str) -> list[dict[str, str]]:
        self._check_running("unload")
        return await self.repository.unload(name)

    def _check_running(self, action: str) -> None:
        if self.draining:
            raise NotReady(f"the server is shutting down; it does not {action} models any more")

    def model_metadata(self, name: str, version: str | None = None) -> dict[str, Any]:
        runtime = self.runtime(name, version)
        model = runtime.check_ready()
        return {
            "name": runtime.name,
            "versions": self.repository.versions(runtime.name),
            "platform": model.flavor,
            "inputs": runtime.inputs_metadata(),
            "outputs": runtime.outputs_metadata(),
            "parameters": {
                "version": runtime.version,
                "uri": runtime.served.uri,
                "methods": ["predict", "predict_proba"] if runtime.has_proba else ["predict"],
            },
        }

    def admit(self, runtime: ModelRuntime) -> None:
        """A request for ``runtime`` (found by :meth:`runtime`: 404 unknown) about to be read:
        503 not ready, 429 queue full — refused before its body is read."""
        runtime.check_ready()
        runtime.batcher.check_capacity()

    # -- inference -------------------------------------------------------------------
    async def infer(self, name: str, version: str | None, request: InferenceRequest) -> InferenceResult:
        return await self.infer_on(self.runtime(name, version), request)

    async def infer_on(self, runtime: ModelRuntime, request: InferenceRequest) -> InferenceResult:
        """:meth:`infer` on a version already looked up (an admitted request's)."""
        model = runtime.loaded()  # admitted: it may be unloading, and then finishes
        if request.deadline <= time.monotonic():
            raise DeadlineExceeded("the request's deadline passed before it could be queued")
        methods = self._methods(runtime, request)
        signature = model.signature
        params = request.params if request.params and signature is not None and signature.params else None
        prepared = request.prepared = runtime.prepare(request.data)
        result = InferenceResult(runtime.name, runtime.version, default_output=runtime.default_output_name())
        if len(methods) == 1:  # runtime.infer, without a coroutine of its own (per request)
            job = runtime.submit(prepared, methods[0], params, request.deadline)
            try:
                result.by_method[methods[0]] = await job.future
            finally:
                runtime.forget(job)
        else:
            outputs = await asyncio.gather(
                *(runtime.infer(prepared, method, params, request.deadline) for method in methods)
            )
            result.by_method.update(zip(methods, outputs, strict=True))
        return result

    def _methods(self, runtime: ModelRuntime, request: InferenceRequest) -> list[str]:
        """Which model methods a request needs: its explicit ``method``, or what its
        ``outputs`` name (``probabilities`` is predict_proba's, unless predict has one)."""
        if request.method is not None:
            return [request.method]
        if not request.outputs:
            return ["predict"]
        native = runtime.native_outputs()
        proba = (
            PROBABILITIES in request.outputs and runtime.has_proba and (native is None or PROBABILITIES not in native)
        )
        others = [n for n in request.outputs if not (proba and n == PROBABILITIES)]
        if native is not None and (unknown := [n for n in others if n not in native]):
            known = [*native, *([PROBABILITIES] if runtime.has_proba and PROBABILITIES not in native else [])]
            raise InvalidArgument(
                f"model '{runtime.label}' has no output '{unknown[0]}'; its outputs are {known}",
                {"field": "outputs", "expected": known},
            )
        return (["predict"] if others else []) + (["predict_proba"] if proba else [])


__all__ = ["DataPlane", "InferenceRequest", "InferenceResult", "LoadFailure"]
