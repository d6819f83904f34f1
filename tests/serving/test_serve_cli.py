"""``shipyard serve`` as users run it: a real process, a registry in local mode, SIGTERM."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from shipyard.client import Client
from shipyard.models import save_model
from shipyard.models.signature import ModelSignature, TensorSpec
from shipyard.serving import ServedModel, ServingSettings, run_server
from shipyard.settings import load_settings
from tests.serving.conftest import metric_samples, v2_tensor, wait_ready
from tests.serving.toy_models import Doubler

REPO = Path(__file__).resolve().parents[2]
CHILD = "from shipyard.cli.main import run; run()"
# The same, and on exit which of these packages it had imported (the control plane's, the Parquet writer's).
HEAVY = ("sqlalchemy", "alembic", "fastapi", "cryptography", "shipyard.store", "shipyard.server", "shipyard.client",
         "shipyard.auth", "pyarrow", "pandas")  # fmt: skip
CHILD_REPORTING_IMPORTS = f"""
import atexit, sys
heavy = {HEAVY!r}
imported = lambda: sorted({{h for h in heavy for m in sys.modules if m == h or m.startswith(h + ".")}})
atexit.register(lambda: print("IMPORTED", *imported(), file=sys.stderr))
from shipyard.cli.main import run
run()
"""
LISTENING = re.compile(r"Listening on (http://\S+)")
START_TIMEOUT_S = 90.0


def cli_app() -> Any:
    from shipyard.cli.main import app

    return app


class ServeProcess:
    """``shipyard ... serve ...`` in a subprocess; its stderr is read on a thread."""

    def __init__(self, args: list[str], code: str = CHILD) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, *args],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)
            self.lines.put(line)

    def url(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            found = LISTENING.search(line)  # a log line may share the line (stdout/stderr interleave)
            if found:
                return found.group(1)
        raise AssertionError(f"the server did not start:\n{''.join(self.log)}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self._reader.join(timeout=10)
        assert self.proc.stderr is not None
        self.proc.stderr.close()


@pytest.fixture
def launch() -> Iterator[Any]:
    started: list[ServeProcess] = []

    def start(args: list[str], code: str = CHILD) -> ServeProcess:
        process = ServeProcess(args, code)
        started.append(process)
        return process

    yield start
    for process in started:
        process.close()


def test_sigterm_fails_readiness_drains_in_flight_work_and_exits_0(tmp_path: Path, launch: Any) -> None:
    signature = ModelSignature(inputs=[TensorSpec(type="float64", shape=[-1, 2])])
    save_model(Doubler(delay_s=1.5), tmp_path / "slow", signature=signature)
    server = launch(["serve", str(tmp_path / "slow"), "--name", "slow", "--port", "0", "--grace-period", "10",
                     "--drain-delay", "0.5"])  # fmt: skip
    url = server.url()
    wait_ready(url)
    in_flight: dict[str, Any] = {}

    def call() -> None:
        in_flight["reply"] = httpx.post(f"{url}/v2/models/slow/infer", json=v2_tensor([[21.0, 0.0]]), timeout=30)

    caller = threading.Thread(target=call)
    caller.start()
    for _ in range(500):
        if [s.value for s in metric_samples(url, "shipyard_inflight_requests")] == [1.0]:
            break
        time.sleep(0.01)
    else:
        raise AssertionError("the request never started")
    signalled = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    seen: set[str] = set()
    while caller.is_alive() and time.monotonic() - signalled < 5:
        try:
            seen.add(str(httpx.get(f"{url}/v2/health/ready", timeout=1).status_code))
        except httpx.TransportError:
            seen.add("refused")
        time.sleep(0.05)
    caller.join(timeout=30)
    assert seen, "readiness was never probed during the drain"
    assert seen <= {"503", "refused"}, seen  # never ready again once SIGTERM arrived
    reply = in_flight["reply"]
    assert reply.status_code == 200
    assert reply.json()["outputs"][0]["data"] == [42.0]
    assert server.proc.wait(timeout=15) == 0
    assert time.monotonic() - signalled < 10


def test_a_server_whose_stderr_reader_is_gone_still_drains_on_sigterm_and_exits_0(tmp_path: Path) -> None:
    # A controller killed outright leaves its model servers a pipe nobody reads: the drain's
    # log lines hit EPIPE, and a log call must neither raise inside the signal handler nor hang.
    signature = ModelSignature(inputs=[TensorSpec(type="float64", shape=[-1, 2])])
    save_model(Doubler(), tmp_path / "m", signature=signature)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    argv = [sys.executable, "-c", CHILD, "serve", str(tmp_path / "m"), "--port", "0", "--grace-period", "2"]
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        seen: list[str] = []
        for line in proc.stderr:
            seen.append(line)
            if LISTENING.search(line):
                break
        found = LISTENING.search(seen[-1]) if seen else None
        assert found, "".join(seen)
        wait_ready(found.group(1))
        proc.stderr.close()  # the reader is gone: whatever the server writes now fails with EPIPE
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_serving_a_directory_imports_neither_the_control_plane_nor_an_unused_prediction_log(
    tmp_path: Path, launch: Any
) -> None:
    signature = ModelSignature(inputs=[TensorSpec(type="float64", shape=[-1, 2])])
    save_model(Doubler(), tmp_path / "m", signature=signature)
    server = launch(["serve", str(tmp_path / "m"), "--port", "0"], CHILD_REPORTING_IMPORTS)
    url = server.url()
    wait_ready(url)
    assert httpx.post(f"{url}/v2/models/m/infer", json=v2_tensor([[1.0, 2.0]])).json()["outputs"][0]["data"] == [2.0]
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=15) == 0
    server.close()
    report = next(line for line in server.log if line.startswith("IMPORTED"))
    assert report.split()[1:] == []  # no metadata store, server app, client, auth, Parquet writer, pandas


def test_serve_a_registry_alias_end_to_end_in_local_mode(tmp_path: Path, launch: Any) -> None:
    home = tmp_path / "home"
    database = tmp_path / "shipyard.db"
    settings = load_settings({"home": str(home), "database.url": f"sqlite:///{database}"}).settings
    signature = ModelSignature(inputs=[TensorSpec(type="float64", shape=[-1, 2])])
    save_model(Doubler(), tmp_path / "model", signature=signature)
    with Client(settings=settings) as client:
        run = client.create_run(name="train")
        client.log_artifacts(run.id, tmp_path / "model", artifact_path="model")
        for _ in range(2):
            version = client.register_model(f"runs:/{run.id}/model", "doubler")
        client.set_alias("doubler", "prod", 1)
    assert version.version == 2
    server = launch(["--home", str(home), "--database-url", f"sqlite:///{database}", "serve", "models:/doubler@prod",
                     "--port", "0"])  # fmt: skip
    url = server.url()
    wait_ready(url)
    database.rename(tmp_path / "elsewhere.db")  # the control plane is gone; serving goes on
    reply = httpx.post(f"{url}/v2/models/doubler/infer", json=v2_tensor([[1.5, 0.0], [4.0, 1.0]]))
    assert reply.status_code == 200, reply.text
    assert reply.headers["x-shipyard-model-version"] == "doubler/1"  # the alias, not the latest
    assert reply.json()["model_version"] == "1"
    assert reply.json()["outputs"][0]["data"] == [3.0, 8.0]
    meta = httpx.get(f"{url}/v2/models/doubler").json()
    assert meta["versions"] == ["1"]
    assert meta["parameters"]["uri"] == "models:/doubler@prod"
    assert meta["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 2]}]
    assert any("serving doubler/1 from models:/doubler@prod" in line for line in server.log)
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=15) == 0


def test_cli_refuses_bad_arguments_with_a_reason(tmp_path: Path) -> None:
    runner = CliRunner()
    home = ["--home", str(tmp_path / "home"), "--database-url", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    missing = runner.invoke(cli_app(), [*home, "serve", str(tmp_path / "nowhere")])
    assert missing.exit_code == 3
    assert "no model directory" in missing.output
    save_model(Doubler(), tmp_path / "m", signature=None)
    bad = runner.invoke(cli_app(), [*home, "serve", str(tmp_path / "m"), "--max-batch-size", "0"])
    assert bad.exit_code == 2
    assert "--max-batch-size" in bad.output
    names = runner.invoke(cli_app(), [*home, "serve", str(tmp_path / "m"), "--name", "a", "--name", "b"])
    assert names.exit_code == 2
    assert "--name was given 2 times for 1 models" in names.output
    unknown = runner.invoke(cli_app(), [*home, "serve", "models:/nope@prod"])
    assert unknown.exit_code == 3


def test_a_corrupted_model_is_refused_and_the_server_exits_1(tmp_path: Path) -> None:
    save_model(Doubler(), tmp_path / "m", signature=None)
    with (tmp_path / "m" / "model.pkl").open("ab") as fh:
        fh.write(b"tampered")
    result: list[int] = []
    thread = threading.Thread(
        target=lambda: result.append(
            run_server([ServedModel.from_path(tmp_path / "m")], ServingSettings(), host="127.0.0.1", port=0)
        ),
        daemon=True,
    )
    thread.start()
    thread.join(timeout=30)
    assert result == [1]
