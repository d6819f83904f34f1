"""The prediction log over real HTTP: what lands in Parquet, sampling, drops under a stuck
sink, the flush at shutdown, S3, and ``shipyard serve --prediction-log``."""

from __future__ import annotations

import io
import re
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.dataset as ds  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest

from shipyard.models import save_model
from shipyard.models.signature import ModelSignature, TensorSpec
from shipyard.serving import ServedModel, ServingSettings
from shipyard.serving.predlog import PARTITION_SCHEMA, Partition, RollResult, Sampler, Sink
from shipyard.serving.settings import PredictionLogSettings
from shipyard.settings import ArtifactSettings
from tests.s3 import ACCESS_KEY, BUCKET, REGION, SECRET_KEY, boto_client, moto_endpoint_fixture, unique_prefix
from tests.serving.conftest import (
    COLUMNS,
    doubler,
    metric_samples,
    serving,
    v2_columns,
    v2_output,
    v2_tensor,
    wait_ready,
)
from tests.serving.test_serve_cli import ServeProcess
from tests.serving.toy_models import Doubler, Exploding

_ = moto_endpoint_fixture  # a fixture (moto_endpoint) for the S3 test
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]
PART = re.compile(
    r"project=([^/]+)/endpoint=([^/]+)/model=([^/]+)/version=([^/]+)/date=(\d{4}-\d\d-\d\d)/part-[0-9a-f]{32}\.parquet"
)


def log_settings(url: str | Path | None = None, **fields: Any) -> ServingSettings:
    return ServingSettings(prediction_log=PredictionLogSettings(url=None if url is None else str(url), **fields))


def read_log(root: Path) -> Any:
    """Every record under ``root`` as pandas, the hive keys as columns, files' schemas unified."""
    partitioning = ds.partitioning(PARTITION_SCHEMA, flavor="hive")
    dataset = ds.dataset(root, format="parquet", partitioning=partitioning)
    schema = pa.unify_schemas([f.physical_schema for f in dataset.get_fragments()] + [PARTITION_SCHEMA])
    frame = ds.dataset(root, format="parquet", partitioning=partitioning, schema=schema).to_table().to_pandas()
    return frame.sort_values(["request_id", "row"]).reset_index(drop=True)


def parts(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_records_hold_the_features_sent_and_the_outputs_answered(model_dirs: dict[str, Path], tmp_path: Path) -> None:
    model = ServedModel.from_path(model_dirs["sklearn"], name="iris", version="3")
    with serving([model], log_settings(tmp_path)) as (url, _app):
        one = httpx.post(
            f"{url}/v2/models/iris/infer",
            json=v2_columns(ROWS[:1]),
            headers={"x-request-id": "req-one", "x-shipyard-key": "customer-7"},
        )
        both = {**v2_columns(ROWS), "outputs": [{"name": "predictions"}, {"name": "probabilities"}]}
        three = httpx.post(f"{url}/v2/models/iris/infer", json=both, headers={"x-request-id": "req-three"})
        assert one.status_code == three.status_code == 200, three.text
    (path,) = parts(tmp_path)  # the shutdown published the one open file
    match = PART.fullmatch(path)
    assert match is not None, path
    assert match.groups()[:4] == ("default", "iris", "iris", "3")

    frame = read_log(tmp_path)
    assert list(frame["request_id"]) == ["req-one", "req-three", "req-three", "req-three"]
    assert list(frame["row"]) == [0, 0, 1, 2]
    assert list(frame["rows"]) == [1, 3, 3, 3]
    assert set(frame["model"]) == {"iris"}
    assert set(frame["version"]) == {"3"}
    assert set(frame["project"]) == {"default"}
    assert set(frame["endpoint"]) == {"iris"}
    assert set(frame["protocol"]) == {"v2"}
    assert set(frame["status"]) == {200}
    assert frame["error"].isna().all()
    assert list(frame["user_key"].fillna("")) == ["customer-7", "", "", ""]
    assert (frame["latency_ms"] > 0).all()
    assert str(frame["ts"].dt.tz) == "UTC"
    assert (frame["ts"].dt.date == frame["date"]).all()  # the UTC day of arrival
    sent = np.array([ROWS[0], *ROWS])
    np.testing.assert_array_equal(frame[[f"f_{c}" for c in COLUMNS]].to_numpy(), sent)
    answered = v2_output(one.json(), "predictions")["data"] + v2_output(three.json(), "predictions")["data"]
    assert list(frame["prediction"]) == answered
    assert frame["proba"][0] is None  # predict_proba did not run for the first request
    probabilities = np.array(v2_output(three.json(), "probabilities")["data"]).reshape(3, -1)
    np.testing.assert_allclose(np.stack(frame["proba"][1:].to_numpy()), probabilities)

    schema = pq.read_schema(tmp_path / path)
    assert schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert schema.field("f_sepal length (cm)").type == pa.float64()
    assert schema.field("proba").type == pa.list_(pa.float64())


def test_every_protocol_logs_and_a_tensor_model_has_a_column_per_position(
    model_dirs: dict[str, Path], tmp_path: Path
) -> None:
    model = ServedModel.from_path(model_dirs["sklearn-tensor"], name="tensor", version="1")
    with serving([model], log_settings(tmp_path, endpoint="checkout")) as (url, _app):
        v1 = httpx.post(f"{url}/v1/models/tensor:predict", json={"instances": ROWS[:2]}, headers={"x-request-id": "v1"})
        mlflow = httpx.post(f"{url}/invocations", json={"inputs": ROWS[2:]}, headers={"x-request-id": "mlflow"})
        assert v1.status_code == mlflow.status_code == 200
    frame = read_log(tmp_path)
    assert list(zip(frame["request_id"], frame["protocol"], strict=True)) == [
        ("mlflow", "mlflow"),
        ("v1", "v1"),
        ("v1", "v1"),
    ]
    assert set(frame["endpoint"]) == {"checkout"}  # the endpoint label, not the model's name
    np.testing.assert_array_equal(frame[["f_0", "f_1", "f_2", "f_3"]].to_numpy(), [ROWS[2], *ROWS[:2]])
    assert list(frame["prediction"]) == mlflow.json()["predictions"] + v1.json()["predictions"]


def test_failed_requests_are_logged_with_their_error_and_no_outputs(tmp_path: Path) -> None:
    signature = ModelSignature(inputs=[TensorSpec(type="float64", shape=[-1, 2])])
    save_model(Exploding(), tmp_path / "exploding", signature=signature)
    models = [
        ServedModel.from_path(tmp_path / "exploding", name="exploding", version="1"),
        doubler(tmp_path),
    ]
    root = tmp_path / "log"
    with serving(models, log_settings(root)) as (url, _app):
        bad = httpx.post(f"{url}/v2/models/doubler/infer", content=b"{", headers={"x-request-id": "bad-json"})
        wrong = httpx.post(
            f"{url}/v2/models/doubler/infer", json=v2_tensor([[1.0, 2.0, 3.0]]), headers={"x-request-id": "bad-shape"}
        )
        boom = httpx.post(
            f"{url}/v2/models/exploding/infer",
            json=v2_tensor([[1.0, 2.0], [3.0, 4.0]]),
            headers={"x-request-id": "boom"},
        )
        unknown = httpx.post(f"{url}/v2/models/nope/infer", json=v2_tensor([[1.0, 2.0]]))
        assert (bad.status_code, wrong.status_code, boom.status_code, unknown.status_code) == (400, 400, 500, 404)
    frame = read_log(root)
    assert list(zip(frame["request_id"], frame["status"], frame["row"], frame["rows"], strict=True)) == [
        ("bad-json", 400, 0, 0),
        ("bad-shape", 400, 0, 0),
        ("boom", 500, 0, 2),
        ("boom", 500, 1, 2),
    ]  # the unknown model has no partition to go to: not logged
    assert frame["error"][0] == bad.json()["error"]
    assert frame["error"][1] == wrong.json()["error"]
    assert frame["error"][2] == boom.json()["error"]
    assert "prediction" not in frame.columns  # no request here got an answer
    assert list(frame["f_0"][2:]) == [1.0, 3.0]  # the model that raised was given these rows


def test_sampling_logs_its_share_decided_by_request_id(tmp_path: Path) -> None:
    with (
        serving([doubler(tmp_path)], log_settings(tmp_path / "log", sample_rate=0.25)) as (url, _app),
        httpx.Client(base_url=url) as client,
    ):
        ids = [f"sample-{i}" for i in range(2_000)]
        for request_id in ids:
            reply = client.post(
                "/v2/models/doubler/infer", json=v2_tensor([[1.0, 2.0]]), headers={"x-request-id": request_id}
            )
            assert reply.status_code == 200
    logged = list(read_log(tmp_path / "log")["request_id"])
    assert 400 <= len(logged) <= 600  # 25% of 2,000, +-5 standard deviations
    assert sorted(logged) == sorted(i for i in ids if Sampler(0.25)(i))  # exactly the ids the hash picks


class BlockingSink(Sink):
    """Blocks every write until the test releases it: the writer thread is stuck."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.rows = 0

    def write(self, partition: Partition, table: Any) -> None:
        self.entered.set()
        self.release.wait(60)
        self.rows += table.num_rows

    def roll(self, now: float, *, everything: bool = False) -> RollResult:
        return RollResult()


def test_a_stuck_sink_drops_records_and_never_holds_up_a_request(tmp_path: Path) -> None:
    sink = BlockingSink()
    settings = log_settings(buffer_records=50, flush_records=5, flush_interval_s=0.05)
    with (
        serving([doubler(tmp_path)], settings, prediction_sink=sink) as (url, app),
        httpx.Client(base_url=url) as client,
    ):

        def post() -> httpx.Response:
            return client.post("/v2/models/doubler/infer", json=v2_tensor([[1.0, 2.0]]))

        while not sink.entered.is_set():  # until the writer has taken a batch and is stuck with it
            assert post().status_code == 200
        statuses = [post().status_code for _ in range(200)]  # all answered while the sink is stuck
        assert statuses == [200] * 200
        dropped = sum(s.value for s in metric_samples(url, "shipyard_prediction_log_dropped_total"))
        buffered = [s.value for s in metric_samples(url, "shipyard_prediction_log_buffered_records")]
        assert dropped >= 150  # at most 50 waited; the rest were dropped and counted
        assert buffered == [50.0]
        labels = {s.labels["reason"] for s in metric_samples(url, "shipyard_prediction_log_dropped_total")}
        assert labels == {"buffer_full"}
        sink.release.set()
    assert app.prediction_log is not None
    assert app.prediction_log.buffered == 0  # the shutdown wrote the rest


def test_graceful_shutdown_flushes_what_is_buffered(tmp_path: Path) -> None:
    settings = log_settings(tmp_path / "log", flush_interval_s=3600, roll_interval_s=3600)
    with serving([doubler(tmp_path)], settings) as (url, app):
        for i in range(20):
            assert httpx.post(f"{url}/v2/models/doubler/infer", json=v2_tensor([[float(i), 0.0]])).status_code == 200
        assert not list((tmp_path / "log").rglob("*.parquet"))  # nothing due yet
    frame = read_log(tmp_path / "log")
    assert sorted(frame["f_0"]) == [float(i) for i in range(20)]
    assert list(frame["prediction"].sort_values()) == [2.0 * i for i in range(20)]
    records = app.metrics.registry.get_sample_value(
        "shipyard_prediction_log_records_total", {"model": "doubler", "version": "1"}
    )
    assert records == 20


def test_the_log_goes_to_s3(moto_endpoint: str, tmp_path: Path) -> None:
    from shipyard.serving.predlog import open_sink

    prefix = unique_prefix()
    settings = log_settings(f"s3://{BUCKET}/{prefix}")
    artifacts = ArtifactSettings(
        s3_endpoint_url=moto_endpoint,
        s3_access_key_id=ACCESS_KEY,
        s3_secret_access_key=SECRET_KEY,
        s3_region=REGION,
    )
    sink = open_sink(settings.prediction_log, artifacts)
    with serving([doubler(tmp_path)], settings, prediction_sink=sink) as (url, _app):
        reply = httpx.post(f"{url}/v2/models/doubler/infer", json=v2_tensor([[1.0, 2.0], [3.0, 4.0]]))
        assert reply.status_code == 200
    s3 = boto_client(moto_endpoint)
    (key,) = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]]
    assert PART.fullmatch(key.removeprefix(f"{prefix}/")), key
    table = pq.read_table(io.BytesIO(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()))
    assert table.column("f_0").to_pylist() == [1.0, 3.0]
    assert table.column("prediction").to_pylist() == [2.0, 6.0]


@pytest.fixture
def serve_process() -> Iterator[list[ServeProcess]]:
    started: list[ServeProcess] = []
    yield started
    for process in started:
        process.close()


def test_shipyard_serve_prediction_log_flags(tmp_path: Path, serve_process: list[ServeProcess]) -> None:
    signature = ModelSignature(inputs=[TensorSpec(type="float64", shape=[-1, 2])])
    save_model(Doubler(), tmp_path / "model", signature=signature)
    root = tmp_path / "log"
    args = ["serve", str(tmp_path / "model"), "--name", "doubler", "--port", "0", "--prediction-log", str(root),
            "--prediction-log-sample-rate", "1", "--prediction-log-project", "shop"]  # fmt: skip
    server = ServeProcess(args)
    serve_process.append(server)
    url = server.url()
    wait_ready(url)
    reply = httpx.post(f"{url}/v2/models/doubler/infer", json=v2_tensor([[5.0, 0.0]]), headers={"x-request-id": "cli"})
    assert reply.status_code == 200
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=30) == 0
    assert any("logging predictions to" in line for line in server.log)
    frame = read_log(root)
    assert list(frame["request_id"]) == ["cli"]
    assert set(frame["project"]) == {"shop"}
    assert list(frame["prediction"]) == [10.0]


def test_serve_refuses_a_bad_prediction_log_option(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tests.serving.test_serve_cli import cli_app

    save_model(Doubler(), tmp_path / "m", signature=None)
    home = ["--home", str(tmp_path / "home"), "--database-url", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    runner = CliRunner()
    rate = runner.invoke(cli_app(), [*home, "serve", str(tmp_path / "m"), "--prediction-log", str(tmp_path / "l"),
                                     "--prediction-log-sample-rate", "2"])  # fmt: skip
    assert rate.exit_code == 2
    assert "--prediction-log-sample-rate" in rate.output
    scheme = runner.invoke(cli_app(), [*home, "serve", str(tmp_path / "m"), "--prediction-log", "nosuch://bucket/x"])
    assert scheme.exit_code == 2
    assert "prediction_log.url" in scheme.output
