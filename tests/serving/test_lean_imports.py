"""Lean imports: a tensor model is loaded and served without pandas (about 80 MB less), and
everything that needs pandas still gets it.

pandas is imported in the test process already, so the servers run in fresh interpreters."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from sklearn.datasets import load_iris
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from shipyard.models import read_manifest, save_model
from shipyard.serving import imports

ROOT = Path(__file__).resolve().parents[2]

# Serves the models given as [[name, path, v2 body], ...] in one app (in that order),
# sends each its body and prints the answers, whether pandas got imported and the RSS.
CHILD = r"""
import asyncio, json, sys

import httpx

from shipyard.serving import ServedModel, ServingSettings, create_serving_app

models, lean = json.loads(sys.argv[1]), sys.argv[2] == "1"


async def main():
    served = [ServedModel.from_path(path, name=name) for name, path, _ in models]
    app = create_serving_app(served, ServingSettings(lean_imports=lean))
    await app.start()
    for _ in range(3000):
        if app.dataplane.ready:
            break
        await asyncio.sleep(0.01)
    pandas_at_ready = "pandas" in sys.modules
    answers = {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://model") as client:
        for name, _, body in models:
            reply = await client.post(f"/v2/models/{name}/infer", json=body)
            answers[name] = [reply.status_code, reply.json()]
    await app.stop()
    rss = int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) // 1024
    pandas = "pandas" in sys.modules
    print(json.dumps({"answers": answers, "pandas": pandas, "pandas_at_ready": pandas_at_ready, "rss_mb": rss}))


asyncio.run(main())
"""


def _serve(models: list[tuple[str, Path, dict[str, Any]]], lean: bool = True) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps([[n, str(p), b] for n, p, b in models]), "1" if lean else "0"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def iris_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The same iris classifier twice: fitted on an array (tensor signature) and on a DataFrame (columns)."""
    root = tmp_path_factory.mktemp("lean")
    frame, target = load_iris(return_X_y=True, as_frame=True)
    rows = frame.to_numpy()
    tensor_model = LogisticRegression(max_iter=500).fit(rows, target)
    column_model = LogisticRegression(max_iter=500).fit(frame, target)
    save_model(tensor_model, root / "tensor", input_example=rows[:2])
    save_model(column_model, root / "columns", input_example=frame.iloc[:2])
    picked = rows[[0, 60, 120]]
    return {
        "tensor": root / "tensor",
        "columns": root / "columns",
        "tensor_body": {"inputs": [{"name": "input-0", "shape": [3, 4], "datatype": "FP64", "data": picked.tolist()}]},
        "columns_body": {
            "inputs": [
                {"name": str(name), "shape": [3], "datatype": "FP64", "data": picked[:, i].tolist()}
                for i, name in enumerate(frame.columns)
            ]
        },
        "expected": tensor_model.predict(picked).tolist(),
    }


def _predictions(result: dict[str, Any], name: str) -> list[Any]:
    status, body = result["answers"][name]
    assert status == 200, body
    data: list[Any] = body["outputs"][0]["data"]
    return data


def test_a_tensor_model_is_served_without_importing_pandas(iris_models: dict[str, Any]) -> None:
    lean = _serve([("iris", iris_models["tensor"], iris_models["tensor_body"])])
    assert _predictions(lean, "iris") == iris_models["expected"]
    assert lean["pandas"] is False
    full = _serve([("iris", iris_models["tensor"], iris_models["tensor_body"])], lean=False)
    assert _predictions(full, "iris") == iris_models["expected"]
    assert full["pandas"] is True  # the opt-out imports it, as scikit-learn does on its own
    assert lean["rss_mb"] < full["rss_mb"]


def test_a_column_model_loads_with_pandas(iris_models: dict[str, Any]) -> None:
    result = _serve([("iris", iris_models["columns"], iris_models["columns_body"])])
    assert _predictions(result, "iris") == iris_models["expected"]
    assert result["pandas"] is True


def test_a_pipeline_with_pandas_output_is_retried_with_pandas(iris_models: dict[str, Any], tmp_path: Path) -> None:
    """Its warm-up asks for pandas, through scikit-learn's own ImportError: loaded again with it."""
    frame, target = load_iris(return_X_y=True, as_frame=True)
    rows = frame.to_numpy()
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).set_output(transform="pandas")
    save_model(pipeline.fit(rows, target), tmp_path / "pipeline", input_example=rows[:2])
    result = _serve([("iris", tmp_path / "pipeline", iris_models["tensor_body"])])
    assert _predictions(result, "iris") == pipeline.predict(rows[[0, 60, 120]]).tolist()
    assert result["pandas"] is True


def test_a_model_that_tries_pandas_gets_it_before_its_first_request(
    iris_models: dict[str, Any], tmp_path: Path
) -> None:
    """SimpleImputer tries to import pandas on every call and does without it: the warm-up's
    attempt is seen, and pandas is imported while loading, not on the first request's loop turn."""
    frame, target = load_iris(return_X_y=True, as_frame=True)
    rows = frame.to_numpy()
    pipeline = make_pipeline(SimpleImputer(), LogisticRegression(max_iter=500)).fit(rows, target)
    save_model(pipeline, tmp_path / "imputer", input_example=rows[:2])
    result = _serve([("iris", tmp_path / "imputer", iris_models["tensor_body"])])
    assert _predictions(result, "iris") == pipeline.predict(rows[[0, 60, 120]]).tolist()
    assert result["pandas_at_ready"] is True
    plain = _serve([("iris", iris_models["tensor"], iris_models["tensor_body"])])
    assert plain["pandas_at_ready"] is False
    assert plain["pandas"] is False


def test_a_column_model_after_a_lean_one_in_the_same_server(iris_models: dict[str, Any]) -> None:
    """scikit-learn imported without pandas still handles DataFrames once pandas arrives."""
    result = _serve(
        [
            ("lean", iris_models["tensor"], iris_models["tensor_body"]),
            ("named", iris_models["columns"], iris_models["columns_body"]),
        ]
    )
    assert _predictions(result, "lean") == iris_models["expected"]
    assert _predictions(result, "named") == iris_models["expected"]


def test_which_models_defer_pandas(iris_models: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    tensor, columns = read_manifest(iris_models["tensor"]), read_manifest(iris_models["columns"])
    monkeypatch.delitem(sys.modules, "pandas")  # as in a fresh server; restored after the test
    assert imports.defers_pandas(tensor)
    assert not imports.defers_pandas(columns)
    assert not imports.defers_pandas(tensor.model_copy(update={"flavor": "xgboost"}))
    assert not imports.defers_pandas(tensor.model_copy(update={"flavor": "python"}))
    unsigned = tensor.model_copy(update={"signature": None})
    assert imports.defers_pandas(unsigned)  # its input example is an ndarray
    assert not imports.defers_pandas(unsigned.model_copy(update={"input_example": None}))
    monkeypatch.undo()
    assert not imports.defers_pandas(tensor)  # pandas is there already: nothing to save
    assert not imports.manifest_defers_pandas(iris_models["tensor"].parent / "missing")


def test_imports_fail_on_the_loading_thread_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "lean_probe_module.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    other: list[Any] = []

    def import_elsewhere() -> None:
        import lean_probe_module  # type: ignore[import-not-found]

        other.append(lean_probe_module.VALUE)

    with imports.without(frozenset({"lean_probe_module"})):
        with pytest.raises(ModuleNotFoundError, match="deferred while a model loads"):
            import lean_probe_module  # noqa: F401
        thread = threading.Thread(target=import_elsewhere)
        thread.start()
        thread.join(10)
    assert other == [1]
    import lean_probe_module as probe

    assert probe.VALUE == 1
    monkeypatch.delitem(sys.modules, "lean_probe_module")


def test_a_load_that_needs_pandas_is_retried_with_it() -> None:
    attempts: list[bool] = []

    def load() -> str:
        blocked = any(isinstance(finder, imports._Refuse) for finder in sys.meta_path)
        attempts.append(blocked)
        if blocked:
            raise ModuleNotFoundError("No module named 'pandas'", name="pandas")
        return "model"

    assert imports.loading(load, lean=True, label="m/1") == "model"
    assert attempts == [True, False]
    assert imports.loading(load, lean=False, label="m/1") == "model"
    assert attempts == [True, False, False]

    wrapped: list[bool] = []

    def load_wrapped() -> str:  # as scikit-learn and shipyard's require() re-raise a failed import
        wrapped.append(True)
        if len(wrapped) == 1:
            try:
                raise ModuleNotFoundError("No module named 'pandas.core'", name="pandas.core")
            except ImportError as exc:
                raise RuntimeError("this needs pandas") from exc
        return "model"

    assert imports.loading(load_wrapped, lean=True, label="m/1") == "model"
    assert wrapped == [True, True]

    def broken() -> str:
        raise ModuleNotFoundError("No module named 'torch'", name="torch")

    with pytest.raises(ModuleNotFoundError, match="torch"):  # not ours to retry
        imports.loading(broken, lean=True, label="m/1")
