"""One served model version at run time: its state, its batcher, and how it is called."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from typing import Any, Literal

from shipyard.errors import InvalidArgument, ShipyardError
from shipyard.logging import get_logger
from shipyard.models import LoadedModel
from shipyard.models.signature import ColumnSpec, TensorSpec
from shipyard.serving.batching import Batcher, Job
from shipyard.serving.errors import DeadlineExceeded, ModelFailed, NotReady
from shipyard.serving.inputs import Data, Prepared, assemble, prepare
from shipyard.serving.metrics import ServingMetrics
from shipyard.serving.model import ServedModel
from shipyard.serving.outputs import METHODS, PREDICTIONS, PROBABILITIES, split
from shipyard.serving.proba import predict_proba, supports_proba
from shipyard.serving.settings import ServingSettings
from shipyard.serving.tensors import VALUE_TYPE_TO_V2

log = get_logger("shipyard.serving")
State = Literal["loading", "ready", "failed", "stopped"]


class ModelRuntime:
    def __init__(self, served: ServedModel, settings: ServingSettings, metrics: ServingMetrics) -> None:
        self.served = served
        self.name = served.name
        self.version = served.version
        self.state: State = "loading"
        self.error: str | None = None
        self.model: LoadedModel | None = None
        self.has_proba = False
        self._settings = settings
        self._metrics = metrics
        self.inflight = metrics.inflight.labels(self.name, self.version)
        self.batcher = Batcher(self._compute, model=self.name, version=self.version, settings=settings, metrics=metrics)

    @property
    def label(self) -> str:
        return f"{self.name}/{self.version}"

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    # -- loading (on a background thread) ------------------------------------------
    def load(self) -> None:
        """Load (verifying every file's digest), warm up, then mark ready; never raises."""
        started = time.perf_counter()
        try:
            model = self.served.load()
            example = model.input_example if self._settings.warmup else None
            if example is not None:
                model.predict(example)
            self.has_proba = supports_proba(model)
            self.model = model
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            self.state = "failed"
            log.error("model failed to load", model=self.label, uri=self.served.uri, error=self.error)
            return
        seconds = time.perf_counter() - started
        self._metrics.load_duration.labels(self.name, self.version).observe(seconds)
        self.state = "ready"
        log.info("model ready", model=self.label, uri=self.served.uri, flavor=model.flavor, seconds=round(seconds, 3))

    def check_ready(self) -> LoadedModel:
        if self.state != "ready" or self.model is None:
            why = {"loading": "is still loading", "failed": "failed to load", "stopped": "is stopping"}
            raise NotReady(
                f"model '{self.label}' is not ready: it {why.get(self.state, self.state)}",
                {"model": self.name, "version": self.version, "state": self.state},
            )
        return self.model

    # -- inference -------------------------------------------------------------------
    def prepare(self, data: Data) -> Prepared:
        return prepare(self.check_ready().signature, data)

    async def infer(self, prepared: Prepared, method: str, params: dict[str, Any] | None, deadline: float) -> Any:
        """Queue one prepared request and wait for its share of a model call."""
        if method not in METHODS:
            raise InvalidArgument(f"unknown method {method!r}; use one of {list(METHODS)}", {"field": "method"})
        if method == "predict_proba" and not self.has_proba:
            raise InvalidArgument(f"model '{self.label}' has no predict_proba", {"field": "method"})
        key = None
        if prepared.key is not None and self._settings.max_batch_size > 1:
            key = (method, repr(sorted(params.items())) if params else "", prepared.key)
        job = Job(prepared, method, params, key, deadline, asyncio.get_running_loop().create_future())
        self.batcher.submit(job)
        remaining = deadline - time.monotonic()
        try:
            async with asyncio.timeout(None if math.isinf(remaining) else remaining):
                return await job.future
        except TimeoutError:
            self.batcher.discard(job)
            raise DeadlineExceeded(
                f"model '{self.label}' did not answer within the request's deadline",
                {"model": self.name, "version": self.version},
            ) from None

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
        signature = self.check_ready().signature
        return [] if signature is None else _specs_metadata(signature.inputs, "input-0")

    def _native_metadata(self) -> list[dict[str, Any]]:
        signature = self.check_ready().signature
        if signature is None or signature.outputs is None:
            return []
        return _specs_metadata(signature.outputs, PREDICTIONS)

    def native_outputs(self) -> list[str] | None:
        """Names of what ``predict`` returns, when the signature says; None when unknown."""
        return [meta["name"] for meta in self._native_metadata()] or None

    def outputs_metadata(self) -> list[dict[str, Any]]:
        outputs = self._native_metadata()
        if self.has_proba and PROBABILITIES not in {o["name"] for o in outputs}:
            outputs.append({"name": PROBABILITIES, "datatype": "FP64", "shape": [-1, -1]})
        return outputs

    def default_output_name(self) -> str:
        """The name of ``predict``'s output when it is one array."""
        names = self.native_outputs()
        return names[0] if names and len(names) == 1 else PREDICTIONS


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
