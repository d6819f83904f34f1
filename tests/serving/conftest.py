"""Shared pieces for the serving tests: one tiny model per flavor (iris, bundled with
scikit-learn), a server in a background thread, and small request builders."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import numpy as np
import pandas as pd
import pytest

from shipyard.demo.background_server import serve_in_thread
from shipyard.models import load_model, save_model
from shipyard.serving import ModelDirectory, ServedModel, ServingApp, ServingSettings, create_serving_app, heap
from shipyard.serving.native_http import protocol_for
from shipyard.serving.predlog import Sink
from tests.serving.toy_models import Doubler

COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
FLAVORS = ["sklearn", "sklearn-tensor", "xgboost", "lightgbm", "onnx", "pyfunc"]
READY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Iris:
    frame: pd.DataFrame
    array: np.ndarray
    target: np.ndarray


@pytest.fixture(autouse=True)
def _collector_as_found(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This pytest process is not a model server's. A test that makes it one (``heap.configure``,
    ``run_server``) tunes and freezes its collector: undone after the test."""
    monkeypatch.setattr(heap, "_serving_process", False)
    threshold = gc.get_threshold()
    yield
    gc.set_threshold(*threshold)
    gc.unfreeze()


@pytest.fixture(scope="session")
def iris() -> Iris:
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True, as_frame=True)
    return Iris(X, X.to_numpy(), y.to_numpy())


def _build(flavor: str, iris: Iris, directory: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    if flavor == "sklearn":
        save_model(
            LogisticRegression(max_iter=300).fit(iris.frame, iris.target), directory, input_example=iris.frame[:3]
        )
    elif flavor == "sklearn-tensor":
        save_model(
            LogisticRegression(max_iter=300).fit(iris.array, iris.target), directory, input_example=iris.array[:3]
        )
    elif flavor == "xgboost":
        import xgboost as xgb

        model = xgb.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1).fit(iris.frame, iris.target)
        save_model(model, directory, input_example=iris.frame[:3])
    elif flavor == "lightgbm":
        import lightgbm as lgb

        model = lgb.LGBMClassifier(n_estimators=5, num_leaves=4, verbose=-1).fit(iris.frame, iris.target)
        save_model(model, directory, input_example=iris.frame[:3])
    elif flavor == "onnx":
        from skl2onnx import to_onnx

        x32 = iris.array.astype(np.float32)
        fitted = LogisticRegression(max_iter=500).fit(x32, iris.target)
        graph = to_onnx(fitted, x32[:1], options={id(fitted): {"zipmap": False}})
        save_model(graph, directory, input_example=x32[:3])
    elif flavor == "pyfunc":
        save_model(Doubler(), directory, input_example=iris.array[:3])
    else:
        raise AssertionError(flavor)


@pytest.fixture(scope="session")
def model_dirs(iris: Iris, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("serving-models")
    dirs = {}
    for flavor in FLAVORS:
        _build(flavor, iris, root / flavor)
        dirs[flavor] = root / flavor
    return dirs


@pytest.fixture(scope="session")
def loaded(model_dirs: dict[str, Path]) -> dict[str, Any]:
    """Each flavor loaded once in the test process: the reference for served answers."""
    return {flavor: load_model(path) for flavor, path in model_dirs.items()}


def wait_ready(url: str, timeout_s: float = READY_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if httpx.get(f"{url}/v2/health/ready").status_code == 200:
            return
        time.sleep(0.02)
    raise AssertionError(f"{url} did not become ready within {timeout_s}s")


@contextmanager
def serving(
    models: list[ServedModel],
    settings: ServingSettings | None = None,
    *,
    ready: bool = True,
    prediction_sink: Sink | None = None,
    directory: ModelDirectory | None = None,
    **options: Any,
) -> Iterator[tuple[str, ServingApp]]:
    """A real server for ``models`` (and a model repository ``directory``) on a free loopback
    port, with the HTTP front ``settings.http`` names, as ``shipyard serve`` runs it.
    ``options``: uvicorn's."""
    settings = settings or ServingSettings()
    app = create_serving_app(models, settings, prediction_sink=prediction_sink, directory=directory)
    http = protocol_for(app) if settings.http == "native" else "httptools"
    with serve_in_thread(cast(Any, app), http=http, **options) as url:
        if ready:
            wait_ready(url)
        yield url, app


@pytest.fixture(scope="session")
def flavor_server(model_dirs: dict[str, Path]) -> Iterator[str]:
    """Every flavor on one server, each under its flavor's name, version 1."""
    models = [ServedModel.from_path(path, name=flavor, version="1") for flavor, path in model_dirs.items()]
    with serving(models) as (url, _app):
        yield url


def doubler(directory: Path, delay_s: float = 0.0, name: str = "doubler") -> ServedModel:
    """A pyfunc model (two float64 columns in, twice the first out) that sleeps ``delay_s``
    per call; once served, ``app.dataplane.runtime(name).model.raw`` is the live object."""
    from shipyard.models.signature import ModelSignature, TensorSpec

    signature = ModelSignature(inputs=[TensorSpec(type="float64", shape=[-1, 2])])
    path = directory / f"{name}-{delay_s}"
    if not path.exists():
        save_model(Doubler(delay_s), path, signature=signature)
    return ServedModel(name=name, version="1", model=load_model(path), uri=str(path))


def live(app: ServingApp, name: str) -> Any:
    """The native object of a served model (its counters)."""
    model = app.dataplane.runtime(name).model
    assert model is not None
    return model.raw


# --- request builders ---------------------------------------------------------------


def v2_columns(rows: list[list[float]], datatype: str = "FP64") -> dict[str, Any]:
    return {
        "inputs": [
            {"name": name, "shape": [len(rows)], "datatype": datatype, "data": [row[i] for row in rows]}
            for i, name in enumerate(COLUMNS)
        ]
    }


def v2_tensor(rows: list[list[float]], datatype: str = "FP64", name: str = "input-0") -> dict[str, Any]:
    width = len(rows[0])
    return {"inputs": [{"name": name, "shape": [len(rows), width], "datatype": datatype, "data": rows}]}


def v2_for(flavor: str, rows: list[list[float]]) -> dict[str, Any]:
    """The natural V2 request for a flavor's signature (columns, or one tensor)."""
    if flavor in ("sklearn", "xgboost", "lightgbm"):
        return v2_columns(rows)
    return v2_tensor(rows, "FP32" if flavor == "onnx" else "FP64")


def v2_output(body: dict[str, Any], name: str) -> dict[str, Any]:
    return next(o for o in body["outputs"] if o["name"] == name)


def metric_samples(url: str, name: str) -> list[Any]:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{url}/metrics").text
    return [s for family in text_string_to_metric_families(text) for s in family.samples if s.name == name]
