"""The controller end to end: ``shipyard endpoints serve`` in a subprocess, real model
servers it starts, continuous load on loopback, and rollouts driven through the SDK.

The story of :func:`test_rollouts_under_continuous_load` (one endpoint, one load):
v1 serves; a canary of a broken v2 is judged and rolled back automatically; a canary of a
good v3 is promoted; a blue/green v5 is switched to and switched back; a shadow v4 gets a
copy of the traffic, its answers logged, never returned. Throughout, the only failed
requests are those the broken v2 itself answered: the rollouts drop nothing.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pyarrow.dataset as ds  # type: ignore[import-untyped]
import pytest

from shipyard.client import Client
from shipyard.models import save_model
from shipyard.models.signature import ModelSignature, TensorSpec
from shipyard.settings import Settings
from tests.serving.toy_models import Doubler, Exploding, Tripler

ROOT = Path(__file__).resolve().parents[2]
LISTENING = re.compile(r"Listening on (http://\S+)")
SIGNATURE = ModelSignature(inputs=[TensorSpec(type="float64", shape=[-1, 2])])
BODY = {"inputs": [{"name": "input-0", "shape": [1, 2], "datatype": "FP64", "data": [[21.0, 0.0]]}]}
FAST_ANALYSIS = {"interval": "1s", "timeout": "60s"}
# Errors decide outright; p99 latency may double plus 25 ms: a server started a second ago on a
# loaded 2-core machine (the whole suite running) has a slow tail that is not the version's fault.
# The judge's sensitivity is tested on its own (test_analysis.py); this test is about the flow.
ANALYSIS = {
    "checks": [
        {"metric": "error", "absolute_tolerance": 0.01, "critical": True},
        {"metric": "latency_ms", "summary": "p99", "tolerance": 1.0, "absolute_tolerance": 25.0},
    ]
}


def until(
    check: Callable[[], Any], what: str, timeout: float = 60.0, explain: Callable[[], object] | None = None
) -> Any:
    """Poll ``check`` until it returns something truthy (a guard against hangs, not a timing)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting until {what}" + (f"\n{explain()}" if explain else ""))


class EndpointProcess:
    """``shipyard endpoints serve NAME --port 0`` in a subprocess, its stderr collected."""

    def __init__(self, name: str, env: dict[str, str], *extra: str) -> None:
        argv = [sys.executable, "-m", "shipyard", "endpoints", "serve", name, "--port", "0", "--tick", "0.1"]
        self.proc = subprocess.Popen(
            [*argv, *extra], cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.log: list[str] = []
        self._url: str | None = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line.rstrip())
            match = LISTENING.search(line)
            if match and self._url is None:
                self._url = match.group(1)

    def url(self) -> str:
        def listening() -> str | None:
            if self._url is None and self.proc.poll() is not None:
                raise AssertionError("the endpoint process exited:\n" + "\n".join(self.log[-30:]))
            return self._url

        return str(until(listening, "the gateway listens"))

    def status(self) -> dict[str, Any]:
        reply: dict[str, Any] = httpx.get(f"{self.url()}/-/status", timeout=5).json()
        return reply

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        self.close()
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=10)
        assert self.proc.stderr is not None
        self.proc.stderr.close()


@dataclass
class Load:
    """Callers sending one request after another until stopped (bounded)."""

    url: str
    callers: int = 3
    limit: int = 200_000
    results: list[tuple[float, int | str, str]] = field(default_factory=list)  # (time, status | error, version)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Load:
        for _ in range(self.callers):
            thread = threading.Thread(target=self._call, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _call(self) -> None:
        with httpx.Client(timeout=30) as http:
            while not self._stop.is_set() and len(self.results) < self.limit:
                try:
                    r = http.post(f"{self.url}/v2/models/e/infer", json=BODY)
                    self.results.append(
                        (time.monotonic(), r.status_code, r.headers.get("x-shipyard-model-version", ""))
                    )
                except httpx.HTTPError as exc:
                    self.results.append((time.monotonic(), type(exc).__name__, ""))

    def since(self, t: float) -> list[tuple[float, int | str, str]]:
        return [r for r in list(self.results) if r[0] >= t]

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)


def register(client: Client, tmp_path: Path, model: object, tag: str) -> int:
    run = client.create_run(name=f"train-{tag}")
    directory = tmp_path / f"model-{tag}"
    save_model(model, directory, signature=SIGNATURE)
    client.log_artifacts(run.id, directory, artifact_path="model")
    return client.register_model(f"runs:/{run.id}/model", "m").version


def endpoint_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env.update({"SHIPYARD_HOME": str(settings.home), "SHIPYARD_DATABASE_URL": settings.database_url})
    env.update({"SHIPYARD_LOGGING_LEVEL": "INFO", "PYTHONPATH": str(ROOT), **extra})
    return env


def serving(client: Client, name: str = "e") -> list[str]:
    return sorted(f"{s.model}/{s.version} {s.weight:g}%" for s in client.get_endpoint(name).traffic)


@pytest.fixture
def sqlite_only(database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("one database is enough for the process-level test; storage runs on both elsewhere")


@pytest.fixture
def endpoints_started() -> Iterator[list[EndpointProcess]]:
    started: list[EndpointProcess] = []
    yield started
    for p in started:
        p.close()


def test_rollouts_under_continuous_load(
    sqlite_only: None,
    settings: Settings,
    remote: Client,
    server_url: str,
    admin_token: str,
    tmp_path: Path,
    endpoints_started: list[EndpointProcess],
) -> None:
    client = remote
    versions = {
        "good": register(client, tmp_path, Doubler(), "v1"),
        "broken": register(client, tmp_path, Exploding(), "v2"),
        "better": register(client, tmp_path, Doubler(), "v3"),
        "shadow": register(client, tmp_path, Tripler(), "v4"),
        "blue_green": register(client, tmp_path, Doubler(), "v5"),
    }
    assert list(versions.values()) == [1, 2, 3, 4, 5]
    client.apply_endpoint({"name": "e", "routes": [{"model": "m", "version": 1, "weight": 100}]})
    env = endpoint_env(settings, SHIPYARD_CLIENT_URL=server_url, SHIPYARD_CLIENT_TOKEN=admin_token)
    endpoint = EndpointProcess("e", env, "--scale-down-delay", "300", "--grace-period", "5")
    endpoints_started.append(endpoint)
    url = endpoint.url()
    until(lambda: endpoint.status()["serving"] == ["m/1 100%"], "v1 serves")
    load = Load(url).start()
    try:
        until(lambda: len(load.results) > 100, "the load runs")

        # 1. A canary of a broken version: judged, aborted, rolled back by itself.
        started = time.monotonic()
        client.apply_endpoint(
            {
                "name": "e",
                "routes": [{"model": "m", "version": 2, "weight": 100}],
                "strategy": {"type": "canary", "steps": [{"set_weight": 30}, {"analysis": FAST_ANALYSIS}]},
                "analysis": ANALYSIS,
            }
        )
        rollout = until(lambda: (r := client.get_endpoint("e").rollout) and r.phase == "Aborted" and r, "v2 aborts")
        assert "critical metric failed" in rollout.message
        assert "error" in rollout.message
        assert rollout.analysis is not None
        assert rollout.analysis["outcome"] == "failure"
        until(lambda: endpoint.status()["serving"] == ["m/1 100%"], "all traffic back on v1")
        during = load.since(started)
        answered_by = Counter(version for _, _, version in during)
        assert answered_by["m/2"] > 0, "the canary got traffic"
        failed = [(status, version) for _, status, version in during if status != 200]
        assert failed, "the broken canary answered some requests"
        assert all(f == (500, "m/2") for f in failed), Counter(failed)  # only v2's own answers

        # 2. A canary of a good version: analysis passes, promoted to 100 %.
        started = time.monotonic()
        client.apply_endpoint(
            {
                "name": "e",
                "routes": [{"model": "m", "version": 3, "weight": 100}],
                "strategy": {
                    "type": "canary",
                    "steps": [{"set_weight": 50}, {"analysis": FAST_ANALYSIS}, {"set_weight": 100}],
                },
                "analysis": ANALYSIS,
            }
        )
        until(
            lambda: client.get_endpoint("e").phase == "Healthy" and serving(client) == ["m/3 100%"],
            "v3 promoted",
            explain=lambda: (client.get_endpoint("e").rollout, endpoint.log[-20:]),
        )
        until(lambda: endpoint.status()["serving"] == ["m/3 100%"], "the gateway serves v3")
        history = client.endpoint_history("e").items[0]
        assert history.analysis is not None
        assert history.analysis["outcome"] == "success"
        assert [t.to_phase for t in history.transitions][-1] == "Promoted"
        assert all(status == 200 for _, status, _ in load.since(started)), "nothing failed while promoting v3"

        # 3. Blue/green: v5 starts beside v3 with no traffic (mirrored), switch at once, switch back.
        started = time.monotonic()
        client.apply_endpoint(
            {
                "name": "e",
                "routes": [{"model": "m", "version": 5, "weight": 100}],
                "strategy": {"type": "blue_green", "steps": [{"pause": {}}]},
            }
        )
        until(lambda: client.get_endpoint("e").phase == "Paused", "the blue/green waits for promotion")
        until(lambda: any(b["version"] == "m/5" and b["ready"] for b in endpoint.status()["backends"]), "v5 ready")
        paused_at = time.monotonic()
        until(lambda: len(load.since(paused_at)) > 50, "traffic while v5 is previewed")
        assert {v for _, _, v in load.since(started)} == {"m/3"}, "no caller reaches the preview"
        client.promote_endpoint("e")
        until(lambda: endpoint.status()["serving"] == ["m/5 100%"], "switched to v5 at once")
        switched = time.monotonic()
        until(lambda: len(load.since(switched)) > 50, "traffic on v5")
        rolled_back = time.monotonic()
        client.rollback_endpoint("e", reason="switch back")
        until(lambda: endpoint.status()["serving"] == ["m/3 100%"], "switched back to v3", timeout=5)
        assert time.monotonic() - rolled_back < 2.0  # v3 was kept running: no start-up in the way
        back = until(lambda: [t for t, _, v in load.since(rolled_back) if v == "m/3"], "an answer from v3")
        assert back[0] - rolled_back < 1.0, "traffic returned to v3 within a second"
        assert all(status == 200 for _, status, _ in load.since(started)), "nothing failed in the switches"

        # 4. A shadow: v4 gets a copy of every request; callers only ever see v3.
        client.apply_endpoint(
            {
                "name": "e",
                "routes": [{"model": "m", "version": 3, "weight": 100}],
                "shadow": [{"model": "m", "version": 4, "sample_rate": 1.0}],
            }
        )
        until(lambda: any(b["version"] == "m/4" and b["ready"] for b in endpoint.status()["backends"]), "v4 ready")

        def shadow_count() -> float:
            lines = httpx.get(f"{url}/metrics", timeout=5).text.splitlines()
            wanted = ("shipyard_gateway_shadow_requests_total{", 'version="4"', 'result="mismatch"')
            return sum(float(line.split()[-1]) for line in lines if all(w in line for w in wanted))

        until(
            lambda: shadow_count() >= 20,
            "v4 answers mirrored requests",
            explain=lambda: (endpoint.status(), httpx.get(f"{url}/metrics").text[-3000:], endpoint.log[-20:]),
        )
        shadowed_at = time.monotonic()
        until(lambda: len(load.since(shadowed_at)) > 20, "more traffic")
        tail = load.since(shadowed_at)
        assert {v for _, _, v in tail} == {"m/3"}
        assert all(s == 200 for _, s, _ in tail)
    finally:
        load.stop()
    assert load.results
    assert all(isinstance(status, int) for _, status, _ in load.results), "no request was dropped"
    assert endpoint.stop() == 0

    # The shadow's answers are in the prediction log beside v3's, under the same request ids.
    log = ds.dataset(str(settings.home / "prediction-log"), format="parquet").to_table(
        columns=["version", "request_id"]
    )
    records = log.to_pylist()
    by_version = Counter(r["version"] for r in records)
    assert by_version["4"] >= 20
    assert by_version["3"] > 0
    ids = {v: {r["request_id"] for r in records if r["version"] == v} for v in ("3", "4")}
    assert ids["4"]
    assert ids["4"] <= ids["3"] | {r["request_id"] for r in records if r["version"] not in ("3", "4")}
    assert ids["4"] & ids["3"], "a mirrored request is logged by both versions under one request id"


def test_a_controller_restarted_mid_canary_resumes_where_the_rollout_stands(
    sqlite_only: None, settings: Settings, client: Client, tmp_path: Path, endpoints_started: list[EndpointProcess]
) -> None:
    register(client, tmp_path, Doubler(), "v1")
    register(client, tmp_path, Tripler(), "v2")
    client.apply_endpoint({"name": "e", "routes": [{"model": "m", "version": 1, "weight": 100}]})
    client.apply_endpoint(
        {
            "name": "e",
            "routes": [{"model": "m", "version": 2, "weight": 100}],
            "strategy": {
                "type": "canary",
                # A pause until promoted: the restart below happens in it, however long it takes.
                "steps": [{"set_weight": 50}, {"pause": {}}, {"set_weight": 80}, {"pause": {"duration": "2s"}}],
            },
        }
    )
    env = endpoint_env(settings)
    first = EndpointProcess("e", env, "--prediction-log", "off", "--grace-period", "2")
    endpoints_started.append(first)
    first.url()
    until(lambda: client.get_endpoint("e").phase == "Paused", "the canary pauses at 50 %")
    until(lambda: first.status()["serving"] == ["m/1 50%", "m/2 50%"], "the gateway splits the traffic")
    paused = client.get_endpoint("e").rollout
    assert paused is not None
    assert paused.weight == 50
    children = [int(b["pid"]) for b in first.status()["backends"]]

    first.proc.send_signal(signal.SIGKILL)  # the controller dies outright in the pause
    first.proc.wait(timeout=10)

    second = EndpointProcess("e", env, "--prediction-log", "off", "--grace-period", "2")
    endpoints_started.append(second)
    url = second.url()
    until(
        lambda: second.status()["serving"] == ["m/1 50%", "m/2 50%"],
        "the new controller resumes at 50 %",
        explain=lambda: (second.status(), client.get_endpoint("e").rollout, second.log[-20:]),
    )
    reply = httpx.post(f"{url}/v2/models/e/infer", json=BODY, headers={"x-routing-key": "k"}, timeout=30)
    assert reply.status_code == 200
    promoted = client.promote_endpoint("e")  # past the pause: the new controller carries the rest out
    assert promoted.rollout is not None
    assert (promoted.rollout.phase, promoted.rollout.weight) == ("Paused", 80.0)
    until(lambda: client.get_endpoint("e").phase == "Healthy", "the timed pause ends and the rollout completes")
    done = client.endpoint_history("e").items[0]
    assert done.phase == "Promoted"
    assert serving(client) == ["m/2 100%"]
    timed = next(t for t in done.transitions if t.to_phase == "Paused" and t.weight == 80.0)
    assert done.finished_at is not None
    assert (done.finished_at - timed.at).total_seconds() >= 2.0  # the pause's duration, kept by the new controller
    steps = [t.reason for t in done.transitions]
    assert sum("weight 50%" in r for r in steps) == 1, steps  # resumed, not restarted from step 0
    until(lambda: second.status()["serving"] == ["m/2 100%"], "the gateway follows")
    assert second.stop() == 0
    for pid in children:  # the first controller's model servers did not outlive it: SIGTERM, then a drain
        until(
            lambda: not _alive(pid),  # noqa: B023 (called right away)
            f"model server {pid} of the killed controller exits",
            timeout=120,
            explain=lambda: _proc_state(pid),  # noqa: B023
        )


def _proc_state(pid: int) -> str:
    """What a process that should have gone is doing (for the failure message)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError as exc:
        return f"unreadable: {exc}"
    keep = ("State", "PPid", "SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt", "Threads")
    return cmdline + "\n" + "\n".join(line for line in status.splitlines() if line.startswith(keep))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by its dead parent's reaper) counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
