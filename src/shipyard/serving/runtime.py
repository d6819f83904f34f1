"""One served model version at run time: its state, its batcher, its requests in flight,
its memory, and how it is called.

States: ``loading`` → ``ready`` (or ``failed``); ``ready`` → ``unloading`` (new requests
refused, in-flight ones finish) → ``unloaded`` (the model released); ``unloaded`` →
``loading`` again on a repository load; ``stopped`` when the server shuts down.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, Literal

from shipyard.errors import InvalidArgument, ShipyardError
from shipyard.logging import get_logger
from shipyard.models import LoadedModel
from shipyard.models.signature import ColumnSpec, TensorSpec
from shipyard.serving import heap, imports
from shipyard.serving.batching import Batcher, Job
from shipyard.serving.deadlines import Deadlines
from shipyard.serving.errors import DeadlineExceeded, ModelFailed, NotReady
from shipyard.serving.inputs import Data, Prepared, assemble, prepare
from shipyard.serving.memory import directory_bytes, resident_bytes
from shipyard.serving.metrics import ServingMetrics
from shipyard.serving.model import ServedModel
from shipyard.serving.outputs import METHODS, PREDICTIONS, PROBABILITIES, split
from shipyard.serving.proba import predict_proba, supports_proba
from shipyard.serving.settings import ServingSettings
from shipyard.serving.tensors import VALUE_TYPE_TO_V2

log = get_logger("shipyard.serving")
State = Literal["loading", "ready", "failed", "unloading", "unloaded", "stopped"]
# The Open Inference Protocol's model repository states (as Triton and MLServer name them).
OIP_STATES: dict[State, str] = {
    "loading": "LOADING",
    "ready": "READY",
    "failed": "UNAVAILABLE",
    "unloading": "UNLOADING",
    "unloaded": "UNAVAILABLE",
    "stopped": "UNAVAILABLE",
}
_NOT_READY = {
    "loading": "is still loading",
    "failed": "failed to load",
    "unloading": "is being unloaded",
    "unloaded": "is not loaded",
    "stopped": "is stopping",
}


class ModelRuntime:
    def __init__(
        self,
        served: ServedModel,
        settings: ServingSettings,
        metrics: ServingMetrics,
        *,
        from_directory: bool = False,
    ) -> None:
        self.served = served
        self.name = served.name
        self.version = served.version
        self.pinned = served.pinned
        self.from_directory = from_directory  # found in the model repository directory, not named at start
        self.state: State = "loading"
        self.error: str | None = None
        self.load_error: Exception | None = None  # what the last load raised
        self.note = ""  # why an unloaded model is not loaded: "unloaded", "evicted …", "failed to load: …"
        self.model: LoadedModel | None = None
        self.has_proba = False
        # The loaded model's output names and predict's default output name, read off its signature once.
        self._outputs: tuple[LoadedModel, list[str] | None, str] | None = None
        self.disk_bytes = directory_bytes(served.directory)
        self.memory_bytes = self.disk_bytes  # the estimate; measured at each load (shipyard.serving.memory)
        self.active = 0  # requests admitted and not yet answered
        self.last_used = time.monotonic()
        self._idle: asyncio.Event | None = None
        self._settings = settings
        self._metrics = metrics
        self.inflight = metrics.inflight.labels(self.name, self.version)
        self.batcher = Batcher(self._compute, model=self.name, version=self.version, settings=settings, metrics=metrics)
        self.deadlines = Deadlines(self._expire)

    @property
    def label(self) -> str:
        return f"{self.name}/{self.version}"

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    @property
    def hosted(self) -> bool:
        """Whether requests find this version (answered, or refused with 503 while it is
        not ready) rather than a 404."""
        return self.state != "unloaded"

    @property
    def wanted(self) -> bool:
        """Whether this version was asked to be loaded and still is: server readiness waits for it."""
        return self.state in ("loading", "ready", "failed")

    def index_entry(self) -> dict[str, str]:
        """This version in the repository index: ``name``, ``version``, ``state``, ``reason``."""
        reasons: dict[State, str] = {
            "failed": f"failed to load: {self.error}",
            "unloaded": self.note,
            "unloading": f"unloading: {self.active} request(s) in flight",
            "stopped": "the server is stopping",
        }
        state = OIP_STATES[self.state]
        return {"name": self.name, "version": self.version, "state": state, "reason": reasons.get(self.state, "")}

    # -- loading (on a background thread) ------------------------------------------
    def load(self) -> None:
        """Load (verifying every file's digest), warm up, then mark ready; never raises.
        Measures the model's memory: how much the process's RSS grew meanwhile."""
        started = time.perf_counter()
        before = resident_bytes()
        self.state, self.error, self.load_error, self.note = "loading", None, None, ""
        try:
            lean = self._settings.lean_imports and self.served.model is None
            lean = lean and imports.manifest_defers_pandas(self.served.path)
            model = imports.loading(self.served.load, lean=lean, label=self.label, warm_up=self._warm_up)
            self.has_proba = supports_proba(model)
            self.model = model
            if self._settings.gc_freeze:
                heap.settle()  # before ready: the collector never walks the model again
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            self.load_error = exc
            self.state = "failed"
            log.error("model failed to load", model=self.label, uri=self.served.uri, error=self.error)
            return
        seconds = time.perf_counter() - started
        after = resident_bytes()
        if before is not None and after is not None:
            self.memory_bytes = max(after - before, self.disk_bytes)
        self._metrics.load_duration.labels(self.name, self.version).observe(seconds)
        self.last_used = time.monotonic()
        self.state = "ready"
        log.info(
            "model ready",
            model=self.label,
            uri=self.served.uri,
            flavor=model.flavor,
            seconds=round(seconds, 3),
            memory_mib=round(self.memory_bytes / 2**20, 1),
        )

    def _warm_up(self, model: LoadedModel) -> None:
        example = model.input_example if self._settings.warmup else None
        if example is not None:
            model.predict(example)

    def release(self, note: str) -> None:
        """Drop the model (its batcher already stopped, nothing in flight); ``note`` says why."""
        self.model = None
        self._outputs = None  # it holds the model too
        self.has_proba = False
        self.state = "unloaded"
        self.note = note

    def check_ready(self) -> LoadedModel:
        """The model, for a request being admitted: 503 unless it is ready."""
        if self.state != "ready" or self.model is None:
            raise self._not_ready()
        return self.model

    def loaded(self) -> LoadedModel:
        """The model, for a request already admitted: it may be unloading (in-flight
        requests finish before the model is released)."""
        if self.state not in ("ready", "unloading") or self.model is None:
            raise self._not_ready()
        return self.model

    def _not_ready(self) -> NotReady:
        return NotReady(
            f"model '{self.label}' is not ready: it {_NOT_READY.get(self.state, self.state)}",
            {"model": self.name, "version": self.version, "state": self.state},
        )

    # -- requests in flight (on the event loop) ----------------------------------------
    def enter(self) -> None:
        """A request for this version was admitted (counted until :meth:`leave`)."""
        self.active += 1
        self.last_used = time.monotonic()

    def leave(self) -> None:
        self.active -= 1
        if self.active == 0 and self._idle is not None:
            self._idle.set()

    def sample_gauges(self) -> None:
        """Copy the in-flight and queued counts to their gauges (sampled, not kept per request:
        see :meth:`ServingMetrics.sample <shipyard.serving.metrics.ServingMetrics.sample>`)."""
        self.inflight.set(self.active)
        self.batcher.sample_gauges()

    async def wait_idle(self) -> None:
        """Until no request is in flight (each has a deadline, so this ends)."""
        while self.active > 0:
            if self._idle is None:
                self._idle = asyncio.Event()
            self._idle.clear()
            await self._idle.wait()

    # -- inference -------------------------------------------------------------------
    def prepare(self, data: Data) -> Prepared:
        return prepare(self.loaded().signature, data)

    def submit(self, prepared: Prepared, method: str, params: dict[str, Any] | None, deadline: float) -> Job:
        """Queue one prepared request: ``await job.future`` for its share of a model call,
        then :meth:`forget` the job (in a ``finally``). :meth:`infer` does both."""
        if method not in METHODS:
            raise InvalidArgument(f"unknown method {method!r}; use one of {list(METHODS)}", {"field": "method"})
        if method == "predict_proba" and not self.has_proba:
            raise InvalidArgument(f"model '{self.label}' has no predict_proba", {"field": "method"})
        key = None
        if prepared.key is not None and self._settings.max_batch_size > 1:
            key = (method, repr(sorted(params.items())) if params else "", prepared.key)
        job = Job(prepared, method, params, key, deadline, asyncio.get_running_loop().create_future())
        self.batcher.submit(job)
        if not job.future.done():  # a fast model may have answered already
            self.deadlines.watch(job)
        return job

    def forget(self, job: Job) -> None:
        """The caller of :meth:`submit` stopped waiting for ``job`` (answered, or gone)."""
        self.deadlines.forget(job)

    async def infer(self, prepared: Prepared, method: str, params: dict[str, Any] | None, deadline: float) -> Any:
        """:meth:`submit`, and wait for the answer."""
        job = self.submit(prepared, method, params, deadline)
        try:
            return await job.future
        finally:
            self.forget(job)

    def _expire(self, job: Job) -> None:
        """A request's deadline passed before its answer: 504, and out of the queue if still in it."""
        if job.future.done():
            return
        self.batcher.discard(job)
        job.future.set_exception(
            DeadlineExceeded(
                f"model '{self.label}' did not answer within the request's deadline",
                {"model": self.name, "version": self.version},
            )
        )

    def _call(self, method: str, data: Any, params: dict[str, Any] | None) -> Any:
        assert self.model is not None
        if method == "predict_proba":
            return predict_proba(self.model, data)
        return self.model.predict(data, params)

    def _call_one(self, job: Job) -> Any:
        try:
            return self._call(job.method, assemble([job.prepared]), job.params)
        except ShipyardError as exc:
            return exc
        except Exception as exc:
            log.error("model raised", model=self.label, error_type=type(exc).__name__, exc_info=True)
            return ModelFailed(
                f"model '{self.label}' raised {type(exc).__name__} during {job.method}: {exc}",
                {"model": self.name, "version": self.version},
            )

    def _compute(self, jobs: list[Job]) -> list[Any]:
        """Run on a compute thread: one call for the batch, split back; if the batch fails
        or its output does not line up, each request runs alone so one bad request cannot
        fail its neighbours."""
        if len(jobs) == 1:
            return [self._call_one(jobs[0])]
        try:
            output = self._call(jobs[0].method, assemble([j.prepared for j in jobs]), jobs[0].params)
        except Exception:
            output = None
        if output is not None:
            parts = split(output, [j.prepared.rows for j in jobs])
            if parts is not None:
                return parts
        return [self._call_one(job) for job in jobs]

    # -- description -------------------------------------------------------------------
    def inputs_metadata(self) -> list[dict[str, Any]]:
        signature = self.loaded().signature
        return [] if signature is None else _specs_metadata(signature.inputs, "input-0")

    def _native_metadata(self) -> list[dict[str, Any]]:
        signature = self.loaded().signature
        if signature is None or signature.outputs is None:
            return []
        return _specs_metadata(signature.outputs, PREDICTIONS)

    def native_outputs(self) -> list[str] | None:
        """Names of what ``predict`` returns, when the signature says; None when unknown."""
        return self._output_names()[1]

    def _output_names(self) -> tuple[LoadedModel, list[str] | None, str]:
        model = self.loaded()
        if self._outputs is None or self._outputs[0] is not model:  # per request: read once per loaded model
            names = [meta["name"] for meta in self._native_metadata()] or None
            self._outputs = (model, names, names[0] if names and len(names) == 1 else PREDICTIONS)
        return self._outputs

    def outputs_metadata(self) -> list[dict[str, Any]]:
        outputs = self._native_metadata()
        if self.has_proba and PROBABILITIES not in {o["name"] for o in outputs}:
            outputs.append({"name": PROBABILITIES, "datatype": "FP64", "shape": [-1, -1]})
        return outputs

    def default_output_name(self) -> str:
        """The name of ``predict``'s output when it is one array."""
        return self._output_names()[2]


def _specs_metadata(specs: Sequence[ColumnSpec | TensorSpec], unnamed: str) -> list[dict[str, Any]]:
    meta = []
    for spec in specs:
        datatype = VALUE_TYPE_TO_V2.get(spec.type, "BYTES")
        if isinstance(spec, ColumnSpec):
            meta.append({"name": spec.name, "datatype": datatype, "shape": [-1, *(spec.shape or [])]})
        else:
            meta.append({"name": spec.name or unnamed, "datatype": datatype, "shape": list(spec.shape)})
    return meta


__all__ = ["ModelRuntime"]
