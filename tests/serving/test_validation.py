"""Bad input is a 4xx that names the field and what was expected — never a 500."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from shipyard.models import save_model
from shipyard.serving import ServedModel, ServingSettings
from tests.serving.conftest import COLUMNS, serving, v2_columns, v2_tensor
from tests.serving.toy_models import Echo, Exploding, Picky

ROW = [5.1, 3.5, 1.4, 0.2]


def _error(reply: httpx.Response, status: int) -> str:
    assert reply.status_code == status, reply.text
    message = reply.json()["error"]
    assert isinstance(message, str)
    return message


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"inputs": [{"name": c, "shape": [1], "datatype": "FP64", "data": [1.0]} for c in COLUMNS[:3]]}, COLUMNS[3]),
        (
            {"inputs": [{"name": c, "shape": [1], "datatype": "BYTES", "data": ["x"]} for c in COLUMNS]},
            "cannot be safely cast to float64",
        ),
        (
            {
                "inputs": [
                    {"name": c, "shape": [2], "datatype": "FP64", "data": [1.0, 2.0][: 1 + (c == COLUMNS[1])]}
                    for c in COLUMNS
                ]
            },
            "shape [2] needs 2 values but data has 1",
        ),
        (
            {
                "inputs": [
                    {**t, "shape": [1] if t["name"] != COLUMNS[2] else [1, 1]} for t in v2_columns([ROW])["inputs"]
                ]
            },
            "",
        ),
    ],
)
def test_v2_column_errors_name_the_column(flavor_server: str, body: dict[str, Any], field: str) -> None:
    reply = httpx.post(f"{flavor_server}/v2/models/sklearn/infer", json=body)
    if not field:  # a [n, 1] column is accepted as one value per row
        assert reply.status_code == 200, reply.text
        return
    assert field in _error(reply, 400)


def test_v2_columns_of_different_lengths(flavor_server: str) -> None:
    body = v2_columns([ROW, ROW])
    body["inputs"][1] = {"name": COLUMNS[1], "shape": [1], "datatype": "FP64", "data": [1.0]}
    message = _error(httpx.post(f"{flavor_server}/v2/models/sklearn/infer", json=body), 400)
    assert f"column '{COLUMNS[1]}' has 1 rows" in message


@pytest.mark.parametrize(
    ("tensor", "expected"),
    [
        ({"shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}, "has shape [1, 3]; expected [-1, 4]"),
        ({"shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3]}, "shape [1, 4] needs 4 values but data has 3"),
        ({"shape": [1, 4], "datatype": "FP32", "data": ["a", "b", "c", "d"]}, "must be numbers; found strings"),
        ({"shape": [1, 4], "datatype": "INT32", "data": [1.5, 2, 3, 4]}, "must be integers; found non-integer"),
        ({"shape": [1, 4], "datatype": "INT8", "data": [1, 2, 3, 400]}, "400 is out of range for INT8"),
        ({"shape": [1, 4], "datatype": "UINT8", "data": [1, 2, 3, -1]}, "-1 is out of range for UINT8"),
        ({"shape": [1, 4], "datatype": "BOOL", "data": [1, 0, 1, 0]}, "must be true/false values"),
        ({"shape": [1, 4], "datatype": "FP128", "data": [1, 2, 3, 4]}, "unknown datatype 'FP128'"),
        ({"shape": [1, -4], "datatype": "FP32", "data": [1, 2, 3, 4]}, "shape must be a list of non-negative"),
        ({"shape": [1, 4], "datatype": "FP32", "data": [[1, 2], [3]]}, "not a rectangular array"),
        ({"shape": [1, 4], "datatype": "FP32", "data": [1, None, 3, 4]}, "found mixed values or nulls"),
        ({"shape": [1, 4], "datatype": "BYTES", "data": [1, 2, 3, 4]}, "must be strings"),
        ({"shape": [1, 4], "datatype": "FP32"}, "has no 'data'"),
    ],
)
def test_v2_tensor_errors_name_the_input(flavor_server: str, tensor: dict[str, Any], expected: str) -> None:
    reply = httpx.post(f"{flavor_server}/v2/models/onnx/infer", json={"inputs": [{"name": "x", **tensor}]})
    message = _error(reply, 400)
    assert expected in message
    assert "'x'" in message or "input" in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object, not list"),
        (b'"text"', "must be a JSON object, not str"),
        (b"{}", "'inputs' must be a non-empty list"),
        (b'{"inputs": [1]}', "inputs[0] must be an object"),
        (b'{"inputs": [{"shape": [1], "datatype": "FP32", "data": [1]}]}', "inputs[0].name"),
        (
            b'{"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [1]}], "id": 5}',
            "'id' must be a string",
        ),
        (b'{"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [1]}], "outputs": [1]}', "'outputs'"),
        (b'{"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [1]}], "parameters": 3}', "parameters"),
        (
            b'{"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [1]}], '
            b'"parameters": {"method": "explain"}}',
            "parameters.method",
        ),
        (
            b'{"inputs": [{"name": "a", "shape": [99999999999999999999], "datatype": "FP64", "data": [1]}]}',
            "shape must be",
        ),
    ],
)
def test_v2_envelope_errors(flavor_server: str, content: bytes, expected: str) -> None:
    reply = httpx.post(f"{flavor_server}/v2/models/sklearn/infer", content=content)
    assert expected in _error(reply, 400)


def test_v1_errors(flavor_server: str) -> None:
    url = f"{flavor_server}/v1/models/sklearn:predict"
    assert "'instances'" in _error(httpx.post(url, json={"rows": [ROW]}), 400)
    assert "'instances' is empty" in _error(httpx.post(url, json={"instances": []}), 400)
    assert "mixes objects" in _error(httpx.post(url, json={"instances": [ROW, {"a": 1}]}), 400)
    assert "not both" in _error(httpx.post(url, json={"instances": [ROW], "inputs": [ROW]}), 400)
    assert "method must be one of" in _error(httpx.post(url, params={"method": "fit"}, json={"instances": [ROW]}), 400)
    missing = _error(httpx.post(url, json={"instances": [{"sepal length (cm)": 1.0}]}), 400)
    assert "missing column 'sepal width (cm)'" in missing
    assert "columns [" in _error(httpx.post(url, json={"instances": [[1.0, 2.0]]}), 400)


def _mlflow_error(reply: httpx.Response, status: int) -> str:
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert body["error_code"] in ("BAD_REQUEST", "RESOURCE_DOES_NOT_EXIST", "INTERNAL_ERROR")
    message = body["message"]
    assert isinstance(message, str)
    return message


def test_mlflow_errors(flavor_server: str) -> None:
    url = f"{flavor_server}/invocations?model=sklearn"
    assert "exactly one of" in _mlflow_error(httpx.post(url, json={"rows": [ROW]}), 400)
    assert "found ['instances', 'inputs']" in _mlflow_error(
        httpx.post(url, json={"instances": [ROW], "inputs": [ROW]}), 400
    )
    split = {"dataframe_split": {"columns": COLUMNS, "data": [[1.0, 2.0]]}}
    assert "dataframe_split.data' row 0 must be a list of 4" in _mlflow_error(httpx.post(url, json=split), 400)
    assert "'dataframe_records' must be a list" in _mlflow_error(
        httpx.post(url, json={"dataframe_records": {"a": 1}}), 400
    )
    csv = httpx.post(url, content=b"a,b\n1,2,3,4\n\x00", headers={"content-type": "text/csv"})
    assert csv.status_code == 400, csv.text
    parquet = httpx.post(url, content=b"PAR1 not really", headers={"content-type": "application/vnd.apache.parquet"})
    assert "Parquet" in _mlflow_error(parquet, 400)
    xml = httpx.post(url, content=b"<a/>", headers={"content-type": "application/xml"})
    assert xml.status_code == 415
    latin = httpx.post(url, content=b"{}", headers={"content-type": "application/json; charset=latin-1"})
    assert latin.status_code == 415
    assert "RESOURCE_DOES_NOT_EXIST" in httpx.post(f"{flavor_server}/invocations?model=nope", json={}).text


def test_unknown_models_versions_paths_and_methods(flavor_server: str) -> None:
    assert "'nope' is not served" in _error(httpx.post(f"{flavor_server}/v2/models/nope/infer", json={}), 404)
    assert "no version '7'" in _error(httpx.get(f"{flavor_server}/v2/models/sklearn/versions/7"), 404)
    assert "no version '7'" in _error(httpx.post(f"{flavor_server}/v2/models/sklearn/versions/7/infer", json={}), 404)
    assert _error(httpx.get(f"{flavor_server}/v1/models/nope"), 404)
    assert _error(httpx.post(f"{flavor_server}/v1/models/nope:predict", json={}), 404)
    assert "no such endpoint" in _error(httpx.get(f"{flavor_server}/v2/models/sklearn/explain"), 404)
    assert _error(httpx.get(f"{flavor_server}/nothing/here"), 404)
    wrong = httpx.get(f"{flavor_server}/v2/models/sklearn/infer")
    assert "use POST" in _error(wrong, 405)
    assert wrong.headers["allow"] == "POST"


def test_timeout_header_must_be_positive(flavor_server: str) -> None:
    for value in ("soon", "-5", "0", "nan"):
        reply = httpx.post(
            f"{flavor_server}/v2/models/sklearn/infer",
            json=v2_columns([ROW]),
            headers={"x-request-timeout-ms": value},
        )
        assert "X-Request-Timeout-Ms" in _error(reply, 400)


@pytest.fixture(scope="module")
def odd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Models without a signature (any datatype), a broken model and a picky one; a small body limit."""
    root = tmp_path_factory.mktemp("odd")
    for name, model in (("echo", Echo()), ("exploding", Exploding()), ("picky", Picky())):
        save_model(model, root / name, signature=None)
    models = [ServedModel.from_path(root / name, name=name) for name in ("echo", "exploding", "picky")]
    with serving(models, ServingSettings(max_body_bytes=4096)) as (url, _app):
        yield url


@pytest.mark.parametrize(
    ("datatype", "data", "shape"),
    [
        ("BOOL", [True, False, True, True], [2, 2]),
        ("INT8", [[-128, 127], [0, 1]], [2, 2]),
        ("INT16", [1, -2, 3, -32768], [4]),
        ("INT32", [1, 2, 3, 2**31 - 1], [2, 2]),
        ("INT64", [[2**62, -(2**62)]], [1, 2]),
        ("UINT8", [0, 255], [2]),
        ("UINT16", [0, 65535], [2]),
        ("UINT32", [0, 2**32 - 1], [2]),
        ("UINT64", [0, 2**64 - 1], [2]),
        ("FP16", [0.5, 1.5, -2.0, 1024.0], [2, 2]),
        ("FP32", [[0.25, 1.5]], [1, 2]),
        ("FP64", [0.1, 1e300], [2]),
        ("BYTES", [["a", "é"], ["c", "ünïcödé"]], [2, 2]),
        ("BYTES", ["flat", "strings"], [2, 1]),
    ],
)
def test_every_v2_datatype_round_trips(odd_server: str, datatype: str, data: list[Any], shape: list[int]) -> None:
    body = {"inputs": [{"name": "x", "datatype": datatype, "shape": shape, "data": data}]}
    reply = httpx.post(f"{odd_server}/v2/models/echo/infer", json=body)
    assert reply.status_code == 200, reply.text
    output = reply.json()["outputs"][0]
    assert output["datatype"] == datatype
    assert output["shape"] == shape

    def flat(value: Any) -> list[Any]:
        return [x for item in value for x in flat(item)] if isinstance(value, list) else [value]

    assert output["data"] == flat(data)


def test_a_model_bug_is_a_500_that_says_so(odd_server: str) -> None:
    reply = httpx.post(f"{odd_server}/v2/models/exploding/infer", json=v2_tensor([ROW]))
    message = _error(reply, 500)
    assert "model 'exploding/" in message
    assert "raised RuntimeError during predict: boom" in message
    mlflow = httpx.post(f"{odd_server}/invocations?model=exploding", json={"inputs": [ROW]})
    assert mlflow.status_code == 500
    assert mlflow.json()["error_code"] == "INTERNAL_ERROR"


def test_a_model_rejecting_its_input_is_a_400(odd_server: str) -> None:
    assert httpx.post(f"{odd_server}/v2/models/picky/infer", json=v2_tensor([ROW])).status_code == 200
    message = _error(httpx.post(f"{odd_server}/v2/models/picky/infer", json=v2_tensor([[-1.0, 2.0]])), 400)
    assert "negative values are not allowed" in message


def test_body_limit_is_a_413(odd_server: str) -> None:
    big = {"inputs": [{"name": "x", "datatype": "FP64", "shape": [2000], "data": [1.0] * 2000}]}
    reply = httpx.post(f"{odd_server}/v2/models/echo/infer", json=big)
    assert "exceeds 4096 bytes" in _error(reply, 413)


# --- fuzz: garbled bodies, all three protocols, never a 5xx --------------------------

_KEYS = [
    "inputs", "name", "shape", "datatype", "data", "id", "outputs", "parameters", "method", "timeout_ms",
    "instances", "params", "dataframe_split", "dataframe_records", "columns", "index", *COLUMNS, "input-0",
]  # fmt: skip
_DATATYPES = ["BOOL", "INT8", "INT64", "UINT8", "UINT64", "FP16", "FP32", "FP64", "BYTES", "FP128", ""]


def _value(rng: random.Random, depth: int) -> Any:
    pick = rng.randrange(12 if depth < 4 else 8)
    if pick == 0:
        return None
    if pick == 1:
        return rng.random() < 0.5
    if pick == 2:
        return rng.choice([0, -1, 1, 7, 2**31, -(2**63), 2**64 - 1, 10**18])
    if pick == 3:
        return rng.choice([0.0, -1.5, 1e308, 5.1, 3.5e-300])
    if pick == 4:
        return rng.choice(["", "x", "é", "predict_proba", "FP64", "1.5", "\u0000", "🙂" * 3])
    if pick == 5:
        return rng.choice(_DATATYPES)
    if pick == 6:
        return [rng.randrange(-2, 6) for _ in range(rng.randrange(4))]
    if pick == 7:
        return [rng.uniform(-10, 10) for _ in range(rng.randrange(9))]
    if pick in (8, 9):
        return [_value(rng, depth + 1) for _ in range(rng.randrange(5))]
    return {rng.choice(_KEYS): _value(rng, depth + 1) for _ in range(rng.randrange(5))}


def _mutate(rng: random.Random, doc: Any, depth: int = 0) -> Any:
    """A valid body with one random part replaced, dropped or retyped."""
    if isinstance(doc, dict) and doc and depth < 6:
        key = rng.choice(list(doc))
        changed = dict(doc)
        roll = rng.random()
        if roll < 0.2:
            del changed[key]
        elif roll < 0.5:
            changed[key] = _value(rng, depth)
        else:
            changed[key] = _mutate(rng, changed[key], depth + 1)
        return changed
    if isinstance(doc, list) and doc and depth < 6:
        items = list(doc)
        i = rng.randrange(len(items))
        items[i] = _mutate(rng, items[i], depth + 1) if rng.random() < 0.7 else _value(rng, depth)
        return items
    return _value(rng, depth)


def _bodies(rng: random.Random, count: int) -> list[bytes]:
    valid = [
        v2_columns([ROW, ROW]),
        v2_tensor([ROW], "FP32"),
        {"instances": [ROW, ROW]},
        {"instances": [dict(zip(COLUMNS, ROW, strict=True))]},
        {"dataframe_split": {"columns": COLUMNS, "data": [ROW]}},
        {"dataframe_records": [dict(zip(COLUMNS, ROW, strict=True))]},
        {"inputs": {c: [v] for c, v in zip(COLUMNS, ROW, strict=True)}, "params": {"method": "predict_proba"}},
    ]
    bodies = []
    for i in range(count):
        kind = i % 4
        if kind == 0:
            raw = orjson.dumps(_mutate(rng, rng.choice(valid)))
        elif kind == 1:
            raw = orjson.dumps(_value(rng, 0))
        elif kind == 2:  # truncated or spliced JSON
            text = orjson.dumps(rng.choice(valid))
            cut = rng.randrange(len(text))
            raw = text[:cut] + (text[cut + 1 :] if rng.random() < 0.5 else b"")
        else:
            raw = bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
        bodies.append(raw)
    return bodies


def test_fuzzed_bodies_never_get_a_5xx(flavor_server: str) -> None:
    rng = random.Random(20261124)
    targets = [
        ("/v2/models/sklearn/infer", "error"),
        ("/v2/models/onnx/infer", "error"),
        ("/v1/models/lightgbm:predict", "error"),
        ("/v1/models/pyfunc:predict", "error"),
        ("/invocations?model=xgboost", "message"),
        ("/invocations?model=sklearn-tensor", "message"),
    ]
    statuses: dict[int, int] = {}
    with httpx.Client(base_url=flavor_server) as client:
        for i, body in enumerate(_bodies(rng, 360)):
            path, error_key = targets[i % len(targets)]
            reply = client.post(path, content=body, headers={"content-type": "application/json"})
            statuses[reply.status_code] = statuses.get(reply.status_code, 0) + 1
            assert reply.status_code < 500, (path, body, reply.text)
            if reply.status_code >= 400:
                assert isinstance(reply.json()[error_key], str)
    assert statuses.get(400, 0) > 200  # the fuzz mostly hit validation, not luck
