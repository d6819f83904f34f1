"""The fluent tracking API: one active run per process (plus nested ones).

>>> import shipyard as sy
>>> sy.set_experiment("churn")
>>> with sy.start_run(name="baseline"):
...     sy.log_params({"C": 1.0})
...     for step in range(1000):
...         sy.log_metric("loss", 1 / (step + 1), step=step)   # buffered, sent in batches

Metrics are buffered (:class:`shipyard.client.buffer.MetricBuffer`) and flushed in the
background, at ``end_run`` and at interpreter exit; params and tags are sent at once.
"""

from __future__ import annotations

import atexit
import getpass
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from shipyard import sdk
from shipyard.client.buffer import MetricBuffer
from shipyard.client.datasets import describe
from shipyard.client.source import capture
from shipyard.errors import DigestMismatch, InvalidArgument
from shipyard.registry.schemas import ModelVersionOut
from shipyard.sdk import get_client
from shipyard.tracking.schemas import ArtifactOut, ExperimentOut, RunOut

if TYPE_CHECKING:
    from shipyard.models import LoadedModel, ModelManifest

_lock = threading.RLock()
_stack: list[ActiveRun] = []
_experiment_id: int | None = None
_buffer: MetricBuffer | None = None


class ActiveRun:
    """The run being logged to; ends itself (FINISHED, or FAILED on an exception) when
    used as a context manager."""

    def __init__(self, run: RunOut) -> None:
        self.run = run

    @property
    def id(self) -> str:
        return self.run.id

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        end_run("FAILED" if et is not None else "FINISHED", run_id=self.id)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def _metrics() -> MetricBuffer:
    global _buffer
    with _lock:
        if _buffer is None:
            client = get_client()
            _buffer = MetricBuffer(lambda run_id, points: _send(client, run_id, points))
        return _buffer


def _send(client: Any, run_id: str, points: Any) -> None:
    client.log_batch(run_id, metrics=points)


def _current() -> ActiveRun:
    with _lock:
        if not _stack:
            raise InvalidArgument("no active run; call shipyard.start_run() first", {"field": "run"})
        return _stack[-1]


def set_experiment(name: str) -> ExperimentOut:
    """Use (creating if needed) the experiment ``name`` for runs started from now on."""
    global _experiment_id
    experiment = get_client().get_or_create_experiment(name)
    _experiment_id = experiment.id
    return experiment


def start_run(
    name: str | None = None,
    *,
    experiment_id: int | None = None,
    nested: bool = False,
    tags: dict[str, str] | None = None,
    capture_source: bool = True,
) -> ActiveRun:
    client = get_client()
    with _lock:
        if _stack and not nested:
            raise InvalidArgument(
                f"run '{_stack[-1].id}' is already active; end it first or pass nested=True", {"field": "nested"}
            )
        parent = _stack[-1].id if _stack and nested else None
        source = None
        packages: bytes | None = None
        if capture_source:
            source, packages = capture()
        run = client.create_run(
            experiment_id if experiment_id is not None else _experiment_id,
            name=name,
            user_id=_user(),
            tags=tags,
            parent_run_id=parent,
            source=source,
        )
        if packages is not None:
            info = client.upload_blob(packages)
            client._request(
                "POST",
                f"/api/v1/projects/{client.project}/runs/{run.id}/artifacts",
                json={"files": [{"path": "environment/requirements.txt", "digest": info.digest}]},
            )
        active = ActiveRun(run)
        _stack.append(active)
        return active


def active_run() -> ActiveRun | None:
    with _lock:
        return _stack[-1] if _stack else None


def end_run(status: str = "FINISHED", *, run_id: str | None = None) -> RunOut | None:
    """Flush buffered metrics (raising any send error) and close the run."""
    with _lock:
        if not _stack:
            return None
        target = _stack[-1] if run_id is None else next((r for r in _stack if r.id == run_id), None)
        if target is None:
            return None
        _stack.remove(target)
        try:
            flush()
        except Exception:
            # The run still ends (as FAILED: some points were refused); the error surfaces.
            get_client().update_run(target.id, status="FAILED")
            raise
        return get_client().update_run(target.id, status=status)


def flush(timeout_s: float | None = None) -> None:
    with _lock:
        buffer = _buffer
    if buffer is not None:
        buffer.flush(timeout_s)


def log_metric(key: str, value: float, step: int = 0, timestamp: int | None = None) -> None:
    _metrics().add(_current().id, key, value, step, timestamp)


def log_metrics(metrics: dict[str, float], step: int = 0, timestamp: int | None = None) -> None:
    run_id = _current().id
    buffer = _metrics()
    for key, value in metrics.items():
        buffer.add(run_id, key, value, step, timestamp)


def log_param(key: str, value: Any) -> None:
    get_client().log_batch(_current().id, params={key: value})


def log_params(params: dict[str, Any]) -> None:
    get_client().log_batch(_current().id, params=params)


def set_tag(key: str, value: Any) -> None:
    get_client().log_batch(_current().id, tags={key: value})


def set_tags(tags: dict[str, Any]) -> None:
    get_client().log_batch(_current().id, tags=tags)


def log_artifact(local_path: str | Path, artifact_path: str | None = None) -> ArtifactOut:
    return get_client().log_artifact(_current().id, local_path, artifact_path=artifact_path)


def log_artifacts(local_dir: str | Path, artifact_path: str | None = None) -> list[ArtifactOut]:
    return get_client().log_artifacts(_current().id, local_dir, artifact_path=artifact_path)


def log_input(data: Any, *, name: str, context: str = "training", source_uri: str = "") -> None:
    """Record a dataset (DataFrame, numpy array or file) as an input of the active run."""
    get_client().log_inputs(_current().id, [describe(data, name=name, source_uri=source_uri, context=context)])


@dataclass(frozen=True)
class LoggedModel:
    """A model logged under a run, and its registered version when one was made."""

    uri: str
    run_id: str
    artifact_path: str
    flavor: str
    manifest: ModelManifest
    version: ModelVersionOut | None = None


def log_model(
    model: Any,
    name: str = "model",
    *,
    signature: Any = "infer",
    input_example: Any = None,
    registered_model_name: str | None = None,
    requirements: list[str] | None = None,
    flavor: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> LoggedModel:
    """Package ``model`` (scikit-learn, XGBoost, LightGBM, ONNX or any object with
    ``predict``) with its manifest and log it under the active run at ``name``;
    optionally register it as the next version of ``registered_model_name``."""
    from shipyard.models import save_model

    run = _current()
    client = get_client()
    with tempfile.TemporaryDirectory(prefix="shipyard-model-") as tmp:
        directory = Path(tmp) / "model"
        manifest = save_model(
            model,
            directory,
            flavor=flavor,
            signature=signature,
            input_example=input_example,
            requirements=requirements,
            metadata=metadata,
        )
        client.log_artifacts(run.id, directory, artifact_path=name)
    uri = f"runs:/{run.id}/{name.strip('/')}"
    version = client.register_model(uri, registered_model_name) if registered_model_name else None
    return LoggedModel(
        uri=uri, run_id=run.id, artifact_path=name, flavor=manifest.flavor, manifest=manifest, version=version
    )


def load_model(uri: str | Path, *, allow_pickle: bool = True) -> LoadedModel:
    """Load a model from ``models:/name@alias``, ``models:/name/3``, ``models:/name/latest``,
    ``runs:/<id>/<path>`` or a local directory (Shipyard or MLflow format). Every file's
    sha256 is checked against the manifest before the model is deserialised."""
    from shipyard.models import load_model as load_directory

    local = Path(uri)
    if not str(uri).startswith(("models:/", "runs:/")):
        return load_directory(local, allow_pickle=allow_pickle)
    client = get_client()
    path = client.download_model(str(uri))
    try:
        return load_directory(path, allow_pickle=allow_pickle)
    except DigestMismatch:
        client.evict_cached_model(path)  # a damaged cache entry: fetch (and verify) again
        return load_directory(client.download_model(str(uri)), allow_pickle=allow_pickle)


def register_model(source: str, name: str, *, description: str = "") -> ModelVersionOut:
    return get_client().register_model(source, name, description=description)


def set_alias(name: str, alias: str, version: int) -> ModelVersionOut:
    return get_client().set_alias(name, alias, version)


def _at_exit() -> None:
    global _buffer
    with _lock:
        open_runs = list(reversed(_stack))
    for run in open_runs:
        try:
            end_run("FINISHED", run_id=run.id)
        except Exception:  # exiting: report, never hang or mask the real exit
            import sys

            print(f"shipyard: could not end run {run.id} at exit", file=sys.stderr)
    with _lock:
        buffer, _buffer = _buffer, None
    if buffer is not None:
        buffer.close(timeout_s=30)


def _reset_for_tests() -> None:
    """Forget the process-wide state (the tests' client changes between tests)."""
    global _buffer, _experiment_id
    with _lock:
        if _buffer is not None:
            _buffer.close(timeout_s=10)
        _buffer = None
        _experiment_id = None
        _stack.clear()


def _drop_buffer() -> None:
    """Flush and forget the buffer: it sends through the client being replaced."""
    global _buffer
    with _lock:
        buffer, _buffer = _buffer, None
    if buffer is not None:
        buffer.close(timeout_s=30)


sdk.before_client_switch(_drop_buffer)
atexit.register(_at_exit)

__all__ = [
    "ActiveRun",
    "LoggedModel",
    "active_run",
    "end_run",
    "flush",
    "load_model",
    "log_artifact",
    "log_artifacts",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "register_model",
    "set_alias",
    "set_experiment",
    "set_tag",
    "set_tags",
    "start_run",
]
