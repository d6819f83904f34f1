"""The demo's endpoint steps: an endpoint served by ``shipyard endpoints serve`` (a gateway
plus one model server per version, each logging its predictions), requests flowing, two
canaries judged by the analysis (a broken version rolled back on its own, a good one
promoted), then shifted traffic for the monitoring step to find."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from shipyard.client import Client
from shipyard.deploy.schemas import RolloutOut
from shipyard.settings import Settings, child_environment

ENDPOINT = "tumor"
LISTENING = re.compile(r"Listening on (http://\S+)")
ANALYSIS_STEP = {"analysis": {"interval": "1s", "timeout": "60s"}}
# Errors decide outright; p99 latency may grow by half plus 5 ms (a laptop is noisy).
ANALYSIS = {
    "checks": [
        {"metric": "error", "absolute_tolerance": 0.01, "critical": True},
        {"metric": "latency_ms", "summary": "p99", "tolerance": 0.5, "absolute_tolerance": 5.0},
    ]
}


class BrokenModel:
    """A version with a bug: every prediction fails (what a bad release looks like)."""

    def predict(self, data: Any) -> Any:
        raise RuntimeError("NaN weights after a bad training run")


def _until(
    check: Callable[[], Any], what: str, timeout_s: float = 90.0, explain: Callable[[], object] | None = None
) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise RuntimeError(f"the demo timed out waiting until {what}" + (f": {explain()}" if explain else ""))


@contextmanager
def serve_endpoint(settings: Settings, project: str) -> Iterator[str]:
    """``shipyard endpoints serve`` in a subprocess; yields the gateway's URL."""
    argv = [sys.executable, "-m", "shipyard", "endpoints", "serve", ENDPOINT, "-p", project, "--port", "0"]
    env = child_environment(settings) | {"SHIPYARD_LOGGING_LEVEL": "WARNING"}
    argv += ["--tick", "0.2", "--grace-period", "5"]
    proc = subprocess.Popen(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    lines: list[str] = []
    found: dict[str, str] = {}

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line.rstrip())
            match = LISTENING.search(line)
            if match:
                found.setdefault("url", match.group(1))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        url = _until(lambda: found.get("url") or (proc.poll() is not None and _exited(lines)), "the gateway listens")
        yield str(url)
    finally:
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(timeout=10)
        assert proc.stderr is not None
        proc.stderr.close()


def _status(url: str) -> object:
    try:
        return httpx.get(f"{url}/-/status", timeout=5).json()
    except httpx.HTTPError as exc:
        return f"unreachable ({exc})"


def _exited(lines: list[str]) -> str:
    raise RuntimeError("shipyard endpoints serve exited:\n" + "\n".join(lines[-20:]))


class Traffic:
    """Callers sending real rows, one request after another each, until stopped (bounded)."""

    def __init__(self, url: str, bodies: list[dict[str, Any]], callers: int = 4, limit: int = 100_000) -> None:
        self.url, self.bodies, self.limit = url, bodies, limit
        self.answers: list[tuple[int, str]] = []  # (status, version that answered)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(callers)]

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            while not self._stop.is_set() and len(self.answers) < self.limit:
                body = self.bodies[len(self.answers) % len(self.bodies)]
                try:
                    r = http.post(f"/v2/models/{ENDPOINT}/infer", json=body)
                    self.answers.append((r.status_code, r.headers.get("x-shipyard-model-version", "?")))
                except httpx.HTTPError:
                    self.answers.append((0, "?"))

    def mark(self) -> int:
        return len(self.answers)

    def since(self, mark: int) -> Counter[tuple[int, str]]:
        return Counter(self.answers[mark:])


def analysis_table(rollout: RolloutOut) -> Table:
    table = Table("metric", "stable", "canary", "allowed", "p-value", "decision", title="canary analysis")
    for m in (rollout.analysis or {}).get("metrics", []):

        def fmt(value: float | None) -> str:
            return "-" if value is None else f"{value:.4g}"

        table.add_row(
            m["metric"] + (" (critical)" if m["critical"] else ""),
            f"{fmt(m['stable'])} (n={m['n_stable']})",
            f"{fmt(m['candidate'])} (n={m['n_candidate']})",
            fmt(m["allowed"]),
            fmt(m["p_value"]),
            m["decision"],
        )
    return table


def run_canaries(
    console: Console, client: Client, url: str, traffic: Traffic, model: str, stable: int, good: int, broken: int
) -> None:
    """Canary ``broken`` (expected to be rolled back) then ``good`` (expected to be promoted)
    on the endpoint served at ``url`` while ``traffic`` flows."""
    _until(
        lambda: traffic.since(0)[(200, f"{model}/{stable}")] > 20,
        f"version {stable} answers",
        explain=lambda: f"answers so far {dict(traffic.since(0))}; status {_status(url)}",
    )
    console.print(f"endpoint '{ENDPOINT}' at {url}: gateway + one model server per version; version {stable} serves")
    for version, verdict in ((broken, "Aborted"), (good, "Promoted")):
        mark = traffic.mark()
        client.apply_endpoint(
            {
                "name": ENDPOINT,
                "routes": [{"model": model, "version": version, "weight": 100}],
                "strategy": {"type": "canary", "steps": [{"set_weight": 25}, ANALYSIS_STEP, {"set_weight": 100}]},
                "analysis": ANALYSIS,
            }
        )
        console.print(f"canary of version {version}: 25 % of requests, then the analysis decides")
        rollout = _until(
            lambda: (
                (r := client.get_endpoint(ENDPOINT).rollout) is not None and r.phase in ("Aborted", "Promoted") and r
            ),
            f"the canary of version {version} ends",
        )
        console.print(analysis_table(rollout))
        answered = traffic.since(mark)
        spread = ", ".join(f"{v} answered {s} {n} times" for (s, v), n in sorted(answered.items()))
        colour = "green" if rollout.phase == verdict else "red"
        console.print(f"[{colour}]{rollout.phase}[/]: {rollout.message}")
        console.print(f"requests meanwhile: {spread}")
        if rollout.phase != verdict:
            raise RuntimeError(f"the canary of version {version} ended {rollout.phase}, expected {verdict}")
    promoted = traffic.mark()
    _until(lambda: traffic.since(promoted)[(200, f"{model}/{good}")] > 0, f"version {good} serves all traffic")
    history = client.endpoint_history(ENDPOINT, max_results=3).items
    table = Table("revision", "strategy", "phase", "routes", "by", title=f"endpoint '{ENDPOINT}' history")
    for r in history:
        routes = ", ".join(f"{s.model}/{s.version}" for s in r.to_routes)
        table.add_row(str(r.revision), r.strategy, r.phase, routes, r.created_by)
    console.print(table)


def v2_rows(frame: Any) -> list[dict[str, Any]]:
    """One Open Inference Protocol body per row of ``frame`` (named FP64 columns)."""
    return [
        {"inputs": [{"name": str(c), "shape": [1], "datatype": "FP64", "data": [float(row[c])]} for c in frame.columns]}
        for _, row in frame.iterrows()
    ]


def send(url: str, bodies: list[dict[str, Any]], ids: list[str]) -> Counter[int]:
    """Each body once, under its request id; the statuses."""
    statuses: Counter[int] = Counter()
    with httpx.Client(base_url=url, timeout=30) as http:
        for body, request_id in zip(bodies, ids, strict=True):
            r = http.post(f"/v2/models/{ENDPOINT}/infer", json=body, headers={"x-request-id": request_id})
            statuses[r.status_code] += 1
    return statuses


__all__ = ["BrokenModel", "Traffic", "run_canaries", "send", "serve_endpoint", "v2_rows"]
