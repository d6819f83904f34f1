"""Every protocol with every flavor, over HTTP: the served answer is the model's answer."""

from __future__ import annotations

import io
from typing import Any

import httpx
import numpy as np
import pytest

from tests.serving.conftest import COLUMNS, FLAVORS, Iris, v2_for, v2_output

ROWS = [0, 50, 100, 25, 75, 130]


def _rows(iris: Iris) -> list[list[float]]:
    return iris.array[ROWS].tolist()


def _expected(loaded: dict[str, Any], flavor: str, iris: Iris) -> list[Any]:
    model = loaded[flavor]
    if model.signature.takes_columns:
        output = model.predict(iris.frame.iloc[ROWS])
    else:
        output = model.predict(iris.array[ROWS].astype(np.float32 if flavor == "onnx" else np.float64))
    if hasattr(output, "columns"):
        output = output["label"]
    return np.asarray(output).tolist()


@pytest.mark.parametrize("flavor", FLAVORS)
def test_v2_infer_answers_what_the_model_answers(
    flavor_server: str, loaded: dict[str, Any], iris: Iris, flavor: str
) -> None:
    reply = httpx.post(f"{flavor_server}/v2/models/{flavor}/infer", json={**v2_for(flavor, _rows(iris)), "id": "req-7"})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["model_name"] == flavor
    assert body["model_version"] == "1"
    assert body["id"] == "req-7"
    output = v2_output(body, "label" if flavor == "onnx" else "predictions")
    assert output["shape"] == [len(ROWS)]
    assert output["datatype"] in ("INT64", "FP64")
    assert output["data"] == _expected(loaded, flavor, iris)
    assert reply.headers["x-shipyard-model-version"] == f"{flavor}/1"


@pytest.mark.parametrize("flavor", FLAVORS)
def test_v2_versioned_path_and_flat_data(flavor_server: str, loaded: dict[str, Any], iris: Iris, flavor: str) -> None:
    request = v2_for(flavor, _rows(iris))
    for tensor in request["inputs"]:
        tensor["data"] = np.asarray(tensor["data"]).ravel().tolist()  # flat, reshaped by "shape"
    reply = httpx.post(f"{flavor_server}/v2/models/{flavor}/versions/1/infer", json=request)
    assert reply.status_code == 200, reply.text
    output = reply.json()["outputs"][0]
    assert output["data"] == _expected(loaded, flavor, iris)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_v1_predict_with_rows(flavor_server: str, loaded: dict[str, Any], iris: Iris, flavor: str) -> None:
    reply = httpx.post(f"{flavor_server}/v1/models/{flavor}:predict", json={"instances": _rows(iris)})
    assert reply.status_code == 200, reply.text
    predictions = reply.json()["predictions"]
    if flavor == "onnx":  # two outputs: one object per row
        predictions = [row["label"] for row in predictions]
    assert predictions == _expected(loaded, flavor, iris)
    assert reply.headers["x-shipyard-model-version"] == f"{flavor}/1"


@pytest.mark.parametrize("flavor", ["sklearn", "xgboost", "lightgbm"])
def test_v1_predict_with_row_objects(flavor_server: str, loaded: dict[str, Any], iris: Iris, flavor: str) -> None:
    instances = [dict(zip(COLUMNS, row, strict=True)) for row in _rows(iris)]
    reply = httpx.post(f"{flavor_server}/v1/models/{flavor}:predict", json={"instances": instances})
    assert reply.status_code == 200, reply.text
    assert reply.json()["predictions"] == _expected(loaded, flavor, iris)


def test_v1_model_status_and_list(flavor_server: str) -> None:
    assert httpx.get(f"{flavor_server}/v1/models/sklearn").json() == {"name": "sklearn", "ready": True}
    assert sorted(httpx.get(f"{flavor_server}/v1/models").json()["models"]) == sorted(FLAVORS)


def _mlflow_bodies(flavor: str, iris: Iris) -> list[tuple[str, Any]]:
    rows = _rows(iris)
    bodies: list[tuple[str, Any]] = [("instances", {"instances": rows}), ("inputs", {"inputs": rows})]
    if flavor in ("sklearn", "xgboost", "lightgbm"):
        records = [dict(zip(COLUMNS, row, strict=True)) for row in rows]
        bodies += [
            ("dataframe_split", {"dataframe_split": {"columns": COLUMNS, "data": rows}}),
            ("dataframe_records", {"dataframe_records": records}),
            ("inputs-columns", {"inputs": {c: [r[i] for r in rows] for i, c in enumerate(COLUMNS)}}),
        ]
    else:
        bodies.append(("dataframe_split", {"dataframe_split": {"data": rows}}))
    return bodies


@pytest.mark.parametrize("flavor", FLAVORS)
def test_mlflow_invocations_every_json_format(
    flavor_server: str, loaded: dict[str, Any], iris: Iris, flavor: str
) -> None:
    expected = _expected(loaded, flavor, iris)
    for label, body in _mlflow_bodies(flavor, iris):
        reply = httpx.post(f"{flavor_server}/invocations", params={"model": flavor}, json=body)
        assert reply.status_code == 200, (label, reply.text)
        predictions = reply.json()["predictions"]
        if flavor == "onnx":
            predictions = [row["label"] for row in predictions]
        assert predictions == expected, label


@pytest.mark.parametrize("flavor", ["sklearn", "xgboost", "lightgbm"])
def test_mlflow_invocations_csv_and_parquet(
    flavor_server: str, loaded: dict[str, Any], iris: Iris, flavor: str
) -> None:
    frame = iris.frame.iloc[ROWS]
    csv = httpx.post(
        f"{flavor_server}/invocations",
        params={"model": flavor},
        content=frame.to_csv(index=False).encode(),
        headers={"content-type": "text/csv; charset=utf-8"},
    )
    assert csv.status_code == 200, csv.text
    assert csv.json()["predictions"] == _expected(loaded, flavor, iris)
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    parquet = httpx.post(
        f"{flavor_server}/invocations",
        params={"model": flavor},
        content=buffer.getvalue(),
        headers={"content-type": "application/vnd.apache.parquet"},
    )
    assert parquet.status_code == 200, parquet.text
    assert parquet.json()["predictions"] == _expected(loaded, flavor, iris)


def test_mlflow_single_model_server_needs_no_model_parameter(model_dirs: Any, iris: Iris) -> None:
    from shipyard.serving import ServedModel
    from tests.serving.conftest import serving

    with serving([ServedModel.from_path(model_dirs["sklearn"], name="iris")]) as (url, _app):
        reply = httpx.post(f"{url}/invocations", json={"inputs": _rows(iris)})
        assert reply.status_code == 200, reply.text
        assert len(reply.json()["predictions"]) == len(ROWS)
        assert httpx.get(f"{url}/ping").status_code == 200
        assert httpx.get(f"{url}/health").status_code == 200
        assert httpx.get(f"{url}/version").text == "0.1.0"


# --- predict_proba ----------------------------------------------------------------


def _expected_proba(loaded: dict[str, Any], flavor: str, iris: Iris) -> np.ndarray:
    from shipyard.serving.proba import predict_proba

    model = loaded[flavor]
    if model.signature.takes_columns:
        return predict_proba(model, iris.frame.iloc[ROWS])
    return predict_proba(model, iris.array[ROWS].astype(np.float32 if flavor == "onnx" else np.float64))


@pytest.mark.parametrize("flavor", FLAVORS)
def test_predict_proba_in_every_protocol(flavor_server: str, loaded: dict[str, Any], iris: Iris, flavor: str) -> None:
    expected = _expected_proba(loaded, flavor, iris)
    assert expected.shape[0] == len(ROWS)
    request = v2_for(flavor, _rows(iris))
    by_parameter = httpx.post(
        f"{flavor_server}/v2/models/{flavor}/infer", json={**request, "parameters": {"method": "predict_proba"}}
    )
    by_output = httpx.post(
        f"{flavor_server}/v2/models/{flavor}/infer", json={**request, "outputs": [{"name": "probabilities"}]}
    )
    for reply in (by_parameter, by_output):
        assert reply.status_code == 200, reply.text
        outputs = reply.json()["outputs"]
        assert [o["name"] for o in outputs] == ["probabilities"]
        assert outputs[0]["shape"] == list(expected.shape)
        assert np.allclose(np.asarray(outputs[0]["data"]).reshape(expected.shape), expected, atol=1e-6)
    v1 = httpx.post(
        f"{flavor_server}/v1/models/{flavor}:predict",
        params={"method": "predict_proba"},
        json={"instances": _rows(iris)},
    )
    mlflow = httpx.post(
        f"{flavor_server}/invocations",
        params={"model": flavor},
        json={"inputs": _rows(iris), "params": {"method": "predict_proba"}},
    )
    for reply in (v1, mlflow):
        assert reply.status_code == 200, reply.text
        assert np.allclose(np.asarray(reply.json()["predictions"]), expected, atol=1e-6)


def test_v2_both_outputs_at_once(flavor_server: str, loaded: dict[str, Any], iris: Iris) -> None:
    reply = httpx.post(
        f"{flavor_server}/v2/models/sklearn/infer",
        json={**v2_for("sklearn", _rows(iris)), "outputs": [{"name": "probabilities"}, {"name": "predictions"}]},
    )
    assert reply.status_code == 200, reply.text
    names = [o["name"] for o in reply.json()["outputs"]]
    assert names == ["probabilities", "predictions"]
    assert v2_output(reply.json(), "predictions")["data"] == _expected(loaded, "sklearn", iris)


def test_predict_proba_refused_for_a_regressor(tmp_path: Any, iris: Iris) -> None:
    from sklearn.linear_model import LinearRegression

    from shipyard.models import save_model
    from shipyard.serving import ServedModel
    from tests.serving.conftest import serving, v2_tensor

    save_model(LinearRegression().fit(iris.array, iris.target), tmp_path / "reg", input_example=iris.array[:2])
    with serving([ServedModel.from_path(tmp_path / "reg", name="reg")]) as (url, _app):
        meta = httpx.get(f"{url}/v2/models/reg").json()
        assert [o["name"] for o in meta["outputs"]] == ["predictions"]
        assert meta["parameters"]["methods"] == ["predict"]
        reply = httpx.post(
            f"{url}/v2/models/reg/infer", json={**v2_tensor(_rows(iris)), "parameters": {"method": "predict_proba"}}
        )
        assert reply.status_code == 400
        assert "predict_proba" in reply.json()["error"]
        unknown = httpx.post(f"{url}/v2/models/reg/infer", json={**v2_tensor(_rows(iris)), "outputs": [{"name": "x"}]})
        assert unknown.status_code == 400
        assert "no output 'x'" in unknown.json()["error"]


# --- metadata and health ------------------------------------------------------------


def test_server_and_model_metadata(flavor_server: str) -> None:
    assert httpx.get(f"{flavor_server}/v2/health/live").json() == {"live": True}
    assert httpx.get(f"{flavor_server}/v2/health/ready").json() == {"ready": True}
    server = httpx.get(f"{flavor_server}/v2").json()
    assert server["name"] == "shipyard"
    assert server["version"] == "0.1.0"
    assert isinstance(server["extensions"], list)
    table = httpx.get(f"{flavor_server}/v2/models/sklearn").json()
    assert table["name"] == "sklearn"
    assert table["versions"] == ["1"]
    assert table["platform"] == "sklearn"
    assert table["inputs"] == [{"name": c, "datatype": "FP64", "shape": [-1]} for c in COLUMNS]
    assert {"name": "probabilities", "datatype": "FP64", "shape": [-1, -1]} in table["outputs"]
    tensor = httpx.get(f"{flavor_server}/v2/models/onnx/versions/1").json()
    assert tensor["inputs"] == [{"name": "input-0", "datatype": "FP32", "shape": [-1, 4]}]
    assert [o["name"] for o in tensor["outputs"]] == ["label", "probabilities"]
    ready = httpx.get(f"{flavor_server}/v2/models/xgboost/versions/1/ready")
    assert ready.status_code == 200
    assert ready.json() == {"name": "xgboost", "ready": True}
