"""The inference data plane: a small, fast model server, separate from the control plane.

It needs only model directories: once ``shipyard serve`` has downloaded (and verified)
a model from the registry, it never talks to the metadata database or the control-plane
server again, so it keeps answering when they are down.

Protocols (one :class:`DataPlane` core; each protocol is a thin codec over it)
--------------------------------------------------------------------------------

- **Open Inference Protocol v2** (KServe V2, as KServe/MLServer/Triton speak it):
  ``GET /v2/health/live`` → ``{"live": true}``; ``GET /v2/health/ready`` →
  ``{"ready": true}`` or 503 ``{"ready": false}``; ``GET /v2`` server metadata;
  ``GET /v2/models/{name}[/versions/{v}]`` model metadata (inputs and outputs as
  ``{name, datatype, shape}``, ``-1`` for a variable dimension);
  ``GET …/ready``; ``POST …/infer``. All datatypes (BOOL, INT8 to INT64, UINT8 to UINT64, FP16/32/64,
  BYTES as UTF-8 strings); ``data`` nested or flat, reshaped by ``shape`` (a size mismatch
  is a 400 naming the input); ``id`` echoed (else the request id); ``outputs`` filters.
  A table model (column signature) takes one input per column, or one 2-D input whose
  columns are the signature's in order; a tensor model takes one input tensor (or its
  named tensors). Errors: ``{"error": "..."}``.
- **KServe V1**: ``POST /v1/models/{name}:predict`` with ``{"instances": [...]}`` (rows
  or row objects) or ``{"inputs": ...}`` → ``{"predictions": [...]}``;
  ``GET /v1/models/{name}`` → ``{"name", "ready"}``; ``GET /v1/models``.
- **MLflow scoring**: ``POST /invocations`` with ``dataframe_split``,
  ``dataframe_records``, ``instances`` or ``inputs`` JSON, ``text/csv`` or Parquet →
  ``{"predictions": [...]}``; errors ``{"error_code", "message"}``; ``GET /ping`` and
  ``GET /health`` (200 when ready, else 503), ``GET /version``. With several models,
  ``/invocations?model=NAME``.
- ``GET /metrics``: Prometheus text (see :mod:`shipyard.serving.metrics`).
- **Model repository extension** (OIP, as Triton and MLServer speak it):
  ``POST /v2/repository/index``, ``POST /v2/repository/models/{name}/load`` and
  ``…/unload``, under an optional memory budget with LRU eviction of idle models; models
  from ``--model-repository DIR`` load by name (:mod:`shipyard.serving.repository`).

Class probabilities: V2 ``"parameters": {"method": "predict_proba"}`` or asking for the
``probabilities`` output; V1 and MLflow ``?method=predict_proba`` or
``"params": {"method": "predict_proba"}`` (sklearn, XGBoost, LightGBM classifiers, ONNX
graphs with a probabilities output, custom models with ``predict_proba``).

Statuses, the same in every protocol: 400 bad input (never a 500: the message names the
field and what was expected), 404 unknown model or version, 413 body too large, 415
content type, 429 queue full (with ``Retry-After``), 503 not ready (loading, failed,
stopping; with ``Retry-After``), 504 deadline passed, 500 only when the model itself
raised (the message says so). Every reply carries ``X-Request-ID`` (the caller's, or a
new one) and echoes a valid W3C ``traceparent``; inference and model replies carry
``X-Shipyard-Model-Version: <name>/<version>``, the version that answered.

Batching, overload and deadlines (per model version; :class:`ServingSettings`)
-------------------------------------------------------------------------------

- Adaptive micro-batching, on by default (``max_batch_size`` 32,
  ``max_batch_wait_ms`` 2): a request that finds the model idle runs at once; requests
  arriving while it computes are coalesced into one vectorised call (same method, params,
  columns or tensor shape tail) and the output is split back. A batch waits for more
  only while requests are still being read, at most ``max_batch_wait_ms`` after its
  oldest request arrived. Results are identical to unbatched calls; if a batch fails,
  each request reruns alone so one bad request cannot fail its neighbours.
- One model call at a time per model (``max_concurrency``), on the model's own thread,
  never on the event loop.
- A bounded queue (``max_queue``, 256): the next request is refused at once with 429 and
  ``Retry-After``, before its body is read, so memory stays bounded under overload.
- A deadline per request: ``timeout_s`` (60 s), which a caller may lower (never raise)
  with the ``X-Request-Timeout-Ms`` header or V2 ``parameters.timeout_ms``. Expired
  requests are dropped before compute; a reply not ready in time is 504.

Lifecycle
---------

Ready only once every model is loaded, its files verified against their sha256 and
warmed up (one predict on its input example); liveness answers meanwhile. On SIGTERM the
server fails readiness, stops accepting, finishes in-flight requests within
``grace_period_s`` (30 s) and exits 0 (:mod:`shipyard.serving.lifecycle`). With a model
repository, ready means every model asked to be loaded is ready.

Prediction log
--------------

With ``ServingSettings.prediction_log.url`` (``shipyard serve --prediction-log``), every
inference request and its answer become Parquet records, one per input row, written in
the background under hive-style partitions for monitoring to read with DuckDB; sampled by
a hash of the request id, never waited for by a request (a full buffer drops and counts),
flushed on shutdown (:mod:`shipyard.serving.predlog`).

Worker processes
----------------

``run_workers`` (``shipyard serve --workers N``) loads the models once, then forks N
workers that share them copy-on-write and accept on one socket; the parent supervises
them and ``/metrics`` adds up across them (:mod:`shipyard.serving.workers`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipyard.serving.app import ServingApp, create_serving_app
    from shipyard.serving.dataplane import DataPlane, InferenceRequest, InferenceResult
    from shipyard.serving.errors import (
        DeadlineExceeded,
        InsufficientMemory,
        ModelFailed,
        NotReady,
        Overloaded,
        UnsupportedMediaType,
    )
    from shipyard.serving.lifecycle import ServingServer, run_server
    from shipyard.serving.metrics import ServingMetrics
    from shipyard.serving.model import ServedModel
    from shipyard.serving.repository import ModelDirectory, ModelRepository
    from shipyard.serving.settings import PredictionLogSettings, ServingSettings
    from shipyard.serving.workers import run_workers

# Public names -> their modules, imported on first use: a batch job that logs predictions
# (shipyard.batch.predlog) uses a few of this package's modules, not the HTTP server.
_EXPORTS = {
    "ServingApp": "app",
    "create_serving_app": "app",
    "DataPlane": "dataplane",
    "InferenceRequest": "dataplane",
    "InferenceResult": "dataplane",
    "DeadlineExceeded": "errors",
    "InsufficientMemory": "errors",
    "ModelFailed": "errors",
    "NotReady": "errors",
    "Overloaded": "errors",
    "UnsupportedMediaType": "errors",
    "ServingServer": "lifecycle",
    "run_server": "lifecycle",
    "ServingMetrics": "metrics",
    "ServedModel": "model",
    "ModelDirectory": "repository",
    "ModelRepository": "repository",
    "PredictionLogSettings": "settings",
    "ServingSettings": "settings",
    "run_workers": "workers",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "DataPlane",
    "DeadlineExceeded",
    "InferenceRequest",
    "InferenceResult",
    "InsufficientMemory",
    "ModelDirectory",
    "ModelFailed",
    "ModelRepository",
    "NotReady",
    "Overloaded",
    "PredictionLogSettings",
    "ServedModel",
    "ServingApp",
    "ServingMetrics",
    "ServingServer",
    "ServingSettings",
    "UnsupportedMediaType",
    "create_serving_app",
    "run_server",
    "run_workers",
]
