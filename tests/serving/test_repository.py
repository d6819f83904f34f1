"""The model repository extension over real HTTP: index, load and unload as every protocol
sees them, a model repository directory, the memory budget, and unloading under load."""

from __future__ import annotations

import asyncio
import gc
import signal
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from shipyard.models import load_model, save_model
from shipyard.models.signature import ModelSignature, TensorSpec
from shipyard.serving import ModelDirectory, ServedModel, ServingSettings, heap
from shipyard.serving.memory import MIB, plan_eviction
from tests.serving.conftest import doubler, live, metric_samples, serving, v2_tensor, wait_ready
from tests.serving.test_serve_cli import ServeProcess, cli_app
from tests.serving.toy_models import Ballast, Doubler

SIGNATURE = ModelSignature(inputs=[TensorSpec(type="float64", shape=[-1, 2])])
ROW = [[21.0, 0.0]]


def save(path: Path, model: Any, example: Any = None) -> Path:
    save_model(model, path, signature=SIGNATURE, input_example=example)
    return path


def ballast(root: Path, name: str, mib: int, *, delay_s: float = 0.0, pinned: bool = False) -> ServedModel:
    """A loaded model whose directory holds ``mib`` MiB (its memory estimate, see shipyard.serving.memory)."""
    path = root / f"{name}-ballast"
    if not path.exists():
        save(path, Ballast(delay_s, mib))
    return ServedModel(name=name, version="1", model=load_model(path), uri=str(path), pinned=pinned)


def index(url: str, body: Any = None) -> dict[str, dict[str, str]]:
    reply = httpx.post(f"{url}/v2/repository/index", json=body)
    assert reply.status_code == 200, reply.text
    return {entry["name"]: entry for entry in reply.json()}


def post(url: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{url}{path}", timeout=30, **kwargs)


def gauge(url: str, name: str, **labels: str) -> list[float]:
    return [s.value for s in metric_samples(url, name) if all(s.labels.get(k) == v for k, v in labels.items())]


def wait_until(condition: Any, what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.01)


def in_background(call: Any) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: out.setdefault("reply", call()))
    thread.start()
    return thread, out


def test_unloaded_models_disappear_from_every_protocol_and_come_back_on_load(tmp_path: Path) -> None:
    models = [doubler(tmp_path, name="a"), doubler(tmp_path, name="b")]
    with serving(models) as (url, app):
        assert "model_repository" in httpx.get(f"{url}/v2").json()["extensions"]
        entries = httpx.post(f"{url}/v2/repository/index").json()  # no body at all
        assert entries == [
            {"name": "a", "version": "1", "state": "READY", "reason": ""},
            {"name": "b", "version": "1", "state": "READY", "reason": ""},
        ]
        assert gauge(url, "shipyard_loaded_models") == [2.0]
        assert gauge(url, "shipyard_model_memory_bytes", model="b")[0] > 0

        unloaded = post(url, "/v2/repository/models/b/unload")
        assert unloaded.status_code == 200, unloaded.text
        assert unloaded.json() == [{"name": "b", "version": "1", "state": "UNAVAILABLE", "reason": "unloaded"}]
        assert index(url)["b"]["state"] == "UNAVAILABLE"
        assert set(index(url, {"ready": True})) == {"a"}
        assert httpx.get(f"{url}/v1/models").json() == {"models": ["a"]}
        for method, path, body in [
            ("GET", "/v2/models/b", None),
            ("GET", "/v2/models/b/ready", None),
            ("POST", "/v2/models/b/infer", v2_tensor(ROW)),
            ("GET", "/v1/models/b", None),
            ("POST", "/v1/models/b:predict", {"instances": ROW}),
            ("POST", "/invocations?model=b", {"inputs": ROW}),
        ]:
            reply = httpx.request(method, f"{url}{path}", json=body)
            assert reply.status_code == 404, (path, reply.text)
            message = reply.json().get("error") or reply.json()["message"]
            assert "model 'b' is not loaded; load it with POST /v2/repository/models/b/load" in message, path
        assert httpx.get(f"{url}/v2/health/ready").status_code == 200  # b is no longer asked for
        only = httpx.post(f"{url}/invocations", json={"inputs": ROW})  # one model left: no ?model= needed
        assert only.json() == {"predictions": [42.0]}
        assert gauge(url, "shipyard_loaded_models") == [1.0]
        assert gauge(url, "shipyard_model_memory_bytes", model="b") == []
        assert post(url, "/v2/repository/models/b/unload").status_code == 200  # not loaded: a no-op

        loaded = post(url, "/v2/repository/models/b/load")
        assert loaded.status_code == 200, loaded.text
        assert loaded.json() == [{"name": "b", "version": "1", "state": "READY", "reason": ""}]
        assert httpx.post(f"{url}/v2/models/b/infer", json=v2_tensor(ROW)).json()["outputs"][0]["data"] == [42.0]
        assert httpx.post(f"{url}/v1/models/b:predict", json={"instances": ROW}).json() == {"predictions": [42.0]}
        assert httpx.post(f"{url}/invocations?model=b", json={"inputs": ROW}).json() == {"predictions": [42.0]}
        assert httpx.get(f"{url}/v1/models").json() == {"models": ["a", "b"]}

        before = live(app, "a")
        assert post(url, "/v2/repository/models/a/load").json()[0]["state"] == "READY"  # loaded: a no-op
        assert live(app, "a") is before
        assert [s.value for s in metric_samples(url, "shipyard_model_load_duration_seconds_count")] == [1.0, 2.0]


def test_bad_repository_requests_are_4xx_naming_what_is_wrong(tmp_path: Path) -> None:
    with serving([doubler(tmp_path, name="a")]) as (url, _app):
        cases = [
            ("/v2/repository/models/nope/load", None, 404, "model 'nope' is neither served here"),
            ("/v2/repository/models/nope/unload", None, 404, "model 'nope' is not served here"),
            ("/v2/repository/index", {"ready": "yes"}, 400, "'ready' must be true or false"),
            ("/v2/repository/index", {"filter": 1}, 400, "unknown field 'filter'"),
            ("/v2/repository/models/a/load", {"parameters": {"config": "{}"}}, 400, "unsupported parameter 'config'"),
            ("/v2/repository/models/a/unload", {"parameters": {"unload_dependents": 1}}, 400, "must be true or"),
            ("/v2/repository/models/a/load", [1], 400, "must be a JSON object"),
        ]
        for path, body, status, message in cases:
            reply = post(url, path, json=body)
            assert reply.status_code == status, (path, reply.text)
            assert message in reply.json()["error"], (path, reply.text)
        assert post(url, "/v2/repository/index", content=b"{").status_code == 400
        assert post(url, "/v2/repository/models/a/unload", json={"parameters": {"unload_dependents": True}}).is_success
        assert httpx.get(f"{url}/v2/repository/models/a/load").status_code == 405
        assert post(url, "/v2/repository/models/a/reload").status_code == 404


def test_models_of_a_repository_directory_load_by_name(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    save(repo / "lazy", Doubler(delay_s=1.0), example=np.array([[1.0, 2.0]]))  # its warm-up takes 1 s
    save(repo / "broken", Doubler())
    (repo / "broken" / "model.pkl").write_bytes(b"tampered")
    (repo / "notes").mkdir()  # not a model directory: ignored
    directory = ModelDirectory(repo)
    with serving([doubler(tmp_path, name="a")], directory=directory) as (url, app):
        entries = index(url)
        assert set(entries) == {"a", "broken", "lazy"}
        assert entries["lazy"]["state"] == "UNAVAILABLE"
        assert entries["lazy"]["reason"] == "not loaded"
        first_version = entries["lazy"]["version"]
        assert len(first_version) == 12  # the content version
        refused = httpx.post(f"{url}/v2/models/lazy/infer", json=v2_tensor(ROW))
        assert refused.status_code == 404
        assert "in the model repository but not loaded" in refused.json()["error"]
        assert httpx.get(f"{url}/v2/health/ready").status_code == 200  # nothing asked for is missing

        loading, out = in_background(lambda: post(url, "/v2/repository/models/lazy/load"))
        wait_until(lambda: index(url)["lazy"]["state"] == "LOADING", "the load started")
        assert httpx.get(f"{url}/v2/health/ready").status_code == 503  # a model asked for is not ready yet
        loading.join(timeout=30)
        assert out["reply"].status_code == 200, out["reply"].text
        assert httpx.get(f"{url}/v2/health/ready").status_code == 200
        reply = httpx.post(f"{url}/v2/models/lazy/infer", json=v2_tensor(ROW))
        assert reply.status_code == 200
        assert reply.headers["x-shipyard-model-version"] == f"lazy/{first_version}"

        failed = post(url, "/v2/repository/models/broken/load")
        assert failed.status_code == 500
        assert "model.pkl" in failed.json()["error"]
        assert index(url)["broken"]["reason"].startswith("failed to load: DigestMismatch")
        assert httpx.get(f"{url}/v2/health/ready").status_code == 200  # a failed load holds nothing back

        # New content in the directory is what the next load (after an unload) serves.
        assert post(url, "/v2/repository/models/lazy/unload").status_code == 200
        save(repo / "lazy2", Doubler(delay_s=0.01))
        (repo / "lazy").rename(tmp_path / "old-lazy")
        (repo / "lazy2").rename(repo / "lazy")
        reloaded = post(url, "/v2/repository/models/lazy/load").json()
        assert [entry["state"] for entry in reloaded] == ["READY"]
        assert reloaded[0]["version"] != first_version
        assert app.dataplane.repository.versions("lazy") == [reloaded[0]["version"]]


def test_the_budget_evicts_the_least_recently_used_idle_unpinned_model_or_refuses(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    save(repo / "c", Ballast(delay_s=1.0, mib=3))
    save(repo / "d", Ballast(mib=3))
    models = [ballast(tmp_path, "a", 3, pinned=True), ballast(tmp_path, "b", 3)]
    settings = ServingSettings(memory_budget_mb=8)
    with serving(models, settings, directory=ModelDirectory(repo)) as (url, _app):
        assert gauge(url, "shipyard_model_memory_budget_bytes") == [8 * MIB]
        httpx.post(f"{url}/v2/models/b/infer", json=v2_tensor(ROW))
        httpx.post(f"{url}/v2/models/a/infer", json=v2_tensor(ROW))  # b is now the least recently used
        assert post(url, "/v2/repository/models/c/load").status_code == 200  # 3 + 3 + 3 > 8: one must go
        entries = index(url)
        assert entries["b"]["state"] == "UNAVAILABLE"
        assert entries["b"]["reason"] == f"evicted to make room for 'c/{entries['c']['version']}' (memory budget)"
        assert entries["a"]["state"] == entries["c"]["state"] == "READY"
        assert gauge(url, "shipyard_model_evictions_total", model="b") == [1.0]

        # a is pinned and c has a request in flight: nothing can make room for d.
        slow, out = in_background(lambda: httpx.post(f"{url}/v2/models/c/infer", json=v2_tensor(ROW), timeout=30))
        wait_until(lambda: gauge(url, "shipyard_inflight_requests", model="c") == [1.0], "c's request is in flight")
        refused = post(url, "/v2/repository/models/d/load")
        assert refused.status_code == 507, refused.text
        message = refused.json()["error"]
        assert "needs an estimated 3.0 MiB" in message
        assert "of the 8.0 MiB memory budget is in use" in message
        assert "no loaded model can be evicted" in message
        assert index(url)["c"]["state"] == "READY"
        slow.join(timeout=30)
        assert out["reply"].status_code == 200

        assert post(url, "/v2/repository/models/d/load").status_code == 200  # c is idle now: it goes
        states = {name: entry["state"] for name, entry in index(url).items()}
        assert states == {"a": "READY", "b": "UNAVAILABLE", "c": "UNAVAILABLE", "d": "READY"}


def test_models_named_at_start_must_fit_the_budget_together(tmp_path: Path) -> None:
    models = [ballast(tmp_path, "a", 3), ballast(tmp_path, "b", 3)]
    with serving(models, ServingSettings(memory_budget_mb=5), ready=False) as (url, _app):
        wait_until(lambda: index(url)["b"]["state"] == "UNAVAILABLE", "b failed")
        assert index(url)["a"]["state"] == "READY"
        reason = index(url)["b"]["reason"]
        assert "the models named at start must fit together" in reason
        assert httpx.get(f"{url}/v2/health/ready").status_code == 503
        assert post(url, "/v2/repository/models/b/unload").status_code == 200  # given up on: ready again
        assert httpx.get(f"{url}/v2/health/ready").status_code == 200


def test_unload_finishes_the_request_in_flight_and_refuses_new_ones(tmp_path: Path) -> None:
    models = [doubler(tmp_path, name="a"), doubler(tmp_path, delay_s=1.0, name="slow")]
    with serving(models) as (url, _app):
        slow, out = in_background(lambda: httpx.post(f"{url}/v2/models/slow/infer", json=v2_tensor(ROW), timeout=30))
        wait_until(lambda: gauge(url, "shipyard_inflight_requests", model="slow") == [1.0], "the request started")
        unloading, unloaded = in_background(lambda: post(url, "/v2/repository/models/slow/unload"))
        wait_until(lambda: index(url)["slow"]["state"] == "UNLOADING", "the unload started")
        assert index(url)["slow"]["reason"] == "unloading: 1 request(s) in flight"
        assert httpx.get(f"{url}/v2/models/slow/ready").status_code == 503
        refused = httpx.post(f"{url}/v2/models/slow/infer", json=v2_tensor(ROW))
        assert refused.status_code == 503
        assert "is being unloaded" in refused.json()["error"]
        assert httpx.get(f"{url}/v2/health/ready").status_code == 200  # the others still serve
        slow.join(timeout=30)
        unloading.join(timeout=30)
        assert out["reply"].status_code == 200
        assert out["reply"].json()["outputs"][0]["data"] == [42.0]
        assert unloaded["reply"].json()[0]["state"] == "UNAVAILABLE"
        assert httpx.post(f"{url}/v2/models/slow/infer", json=v2_tensor(ROW)).status_code == 404
        assert gauge(url, "shipyard_inflight_requests", model="slow") == [0.0]


def test_concurrent_loads_and_unloads_of_one_model_run_one_after_the_other(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    save(repo / "lazy", Doubler(delay_s=0.4), example=np.array([[1.0, 2.0]]))

    async def race(url: str) -> list[tuple[str, list[dict[str, str]]]]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:

            async def call(action: str, after_s: float) -> tuple[str, list[dict[str, str]]]:
                await asyncio.sleep(after_s)  # sent in this order, while the first load runs
                reply = await client.post(f"/v2/repository/models/lazy/{action}")
                assert reply.status_code == 200, reply.text
                return action, reply.json()

            return list(await asyncio.gather(call("load", 0), call("load", 0.05), call("unload", 0.1)))

    with serving([], directory=ModelDirectory(repo)) as (url, _app):
        (_, first), (_, second), (_, last) = asyncio.run(race(url))
        assert first[0]["state"] == "READY"
        assert second[0]["state"] == "READY"  # it waited for the first load, and found the model loaded
        assert last[0]["state"] == "UNAVAILABLE"  # it waited for both loads
        loads = [s.value for s in metric_samples(url, "shipyard_model_load_duration_seconds_count")]
        assert loads == [1.0]  # loaded once


@pytest.mark.parametrize(
    ("used", "need", "sizes", "expected"),
    [
        (6, 2, [3, 3], []),  # fits already
        (6, 3, [3, 3], ["m0"]),  # the least recently used goes first
        (6, 6, [3, 3], ["m0", "m1"]),
        (6, 9, [3, 3], None),  # even all of them are not enough
        (6, 3, [], None),
    ],
)
def test_plan_eviction_takes_the_fewest_from_the_front(
    used: int, need: int, sizes: list[int], expected: list[str] | None
) -> None:
    candidates = [(f"m{i}", size) for i, size in enumerate(sizes)]
    assert plan_eviction(budget=8, used=used, need=need, candidates=candidates) == expected


def test_cli_flags_for_the_repository_and_the_budget(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    save(repo / "a", Doubler())
    save(repo / "b", Doubler())
    home = ["--home", str(tmp_path / "home"), "--database-url", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    runner = CliRunner()
    cases = [
        ([], 2, "give at least one MODEL, or --model-repository DIR"),
        ([str(repo / "a"), "--load", "a"], 2, "--load needs --model-repository DIR"),
        (["--model-repository", str(repo), "--load", "nope"], 3, "has no model 'nope'"),
        (["--model-repository", str(tmp_path / "nowhere")], 3, "no model repository directory"),
        (["--model-repository", str(repo), "--pin", "zzz"], 2, "--pin zzz: no such model"),
        (["--model-repository", str(repo), "--memory-budget-mb", "0"], 2, "--memory-budget-mb"),
        (["--model-repository", str(repo), "--workers", "0"], 2, "--workers"),
        (["--model-repository", str(repo), "--workers", "2"], 2, "--workers serves the models loaded at start"),
    ]
    for args, code, message in cases:
        result = runner.invoke(cli_app(), [*home, "serve", *args])
        assert result.exit_code == code, (args, result.output)
        assert message in " ".join(result.output.split()), (args, result.output)

    server = ServeProcess([*home, "serve", "--model-repository", str(repo), "--load", "a", "--pin", "a",
                           "--memory-budget-mb", "64", "--port", "0"])  # fmt: skip
    try:
        url = server.url()
        wait_ready(url)
        states = {name: entry["state"] for name, entry in index(url).items()}
        assert states == {"a": "READY", "b": "UNAVAILABLE"}
        assert post(url, "/v2/repository/models/b/load").status_code == 200
        assert httpx.post(f"{url}/v2/models/b/infer", json=v2_tensor(ROW)).json()["outputs"][0]["data"] == [42.0]
        assert any("loading a at start, 1 more on request" in line for line in server.log)
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=20) == 0
    finally:
        server.close()


@pytest.mark.parametrize("freeze", [True, False])
def test_a_loaded_model_is_frozen_before_ready_and_still_collected_once_unloaded(tmp_path: Path, freeze: bool) -> None:
    heap.configure(ServingSettings(gc_threshold=None))  # as `shipyard serve` does, thresholds left alone
    path = save(tmp_path / "cyclic", Doubler())
    frozen_at_ready: list[int] = []

    def loader() -> Any:
        model = load_model(path)
        model.raw.cycle = model.raw  # only the cyclic collector can free it
        return model

    gc.unfreeze()
    served = ServedModel(name="cyclic", version="1", loader=loader, uri=str(path))
    with serving([served], ServingSettings(gc_freeze=freeze)) as (url, app):
        frozen_at_ready.append(gc.get_freeze_count())
        raw = weakref.ref(app.dataplane.runtime("cyclic").loaded().raw)
        assert httpx.post(f"{url}/v2/models/cyclic/infer", json=v2_tensor(ROW)).json()["outputs"][0]["data"] == [42.0]
        assert post(url, "/v2/repository/models/cyclic/unload").status_code == 200
        wait_until(lambda: raw() is None, "the unloaded model is collected")
        assert (gc.get_freeze_count() > 0) is freeze  # what is still alive is frozen again
    assert (frozen_at_ready[0] > 0) is freeze


def test_an_app_embedded_in_another_process_leaves_its_collector_alone(tmp_path: Path) -> None:
    gc.unfreeze()
    threshold = gc.get_threshold()
    served = ServedModel(name="doubler", version="1", loader=lambda: load_model(save(tmp_path / "d", Doubler())))
    with serving([served], ServingSettings()) as (url, _app):  # gc_freeze and gc_threshold at their defaults
        assert httpx.post(f"{url}/v2/models/doubler/infer", json=v2_tensor(ROW)).json()["outputs"][0]["data"] == [42.0]
        assert gc.get_freeze_count() == 0
        assert post(url, "/v2/repository/models/doubler/unload").status_code == 200
        assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == threshold
