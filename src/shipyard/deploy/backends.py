"""The model servers behind an endpoint's gateway, one per routed or shadowed version.

Two kinds, one small interface (:class:`Backends`) that the controller reconciles:

* :class:`LocalProcesses` starts ``shipyard serve models:/NAME/VERSION --port 0`` as a
  child process per version, learns its address from the line it prints once it listens,
  health-checks ``/v2/health/ready``, restarts a process that dies (with a growing delay),
  and stops the ones no longer wanted with SIGTERM, which the serving runtime answers by
  failing readiness and draining in-flight requests (see :mod:`shipyard.serving.lifecycle`).
* :class:`StaticBackends` only health-checks servers something else runs (on Kubernetes,
  one Service per version rendered by :mod:`shipyard.deploy.kubernetes`), at URLs made from
  a template such as ``http://{service}`` (the version's Service name) or
  ``http://{endpoint}-{model}-v{version}``.

A version is *ready* once its server said so on the last health check; the controller
sends traffic to a version only when it is.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from shipyard.logging import get_logger

log = get_logger("shipyard.controller")

LISTENING = re.compile(r"Listening on (http://\S+)")
READY_PATH = "/v2/health/ready"
RESTART_DELAYS_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
STOP_MARGIN_S = 15.0  # beyond a server's grace period (its drain delay and exit) before it is killed


@dataclass(frozen=True)
class Version:
    """One registered model version an endpoint serves."""

    model: str
    version: int
    replicas: int = 1  # model-server worker processes (``shipyard serve --workers``), locally

    @property
    def label(self) -> str:
        return f"{self.model}/{self.version}"


class Backends(Protocol):
    def reconcile(self, wanted: Iterable[Version]) -> None:
        """Run exactly ``wanted`` (start what is missing, stop the rest)."""

    def check(self) -> None:
        """Health-check every server once (and restart dead ones, where that applies)."""

    def ready(self, label: str) -> bool: ...

    def url(self, label: str) -> str | None: ...

    def describe(self) -> list[dict[str, object]]: ...

    def close(self) -> None: ...


def _probe(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(url + READY_PATH).status_code == 200
    except httpx.HTTPError:
        return False


_PR_SET_PDEATHSIG = 1


def _prctl() -> Callable[..., int] | None:
    """libc's prctl, looked up in the parent (nothing is loaded between fork and exec)."""
    if sys.platform != "linux":
        return None
    import ctypes

    function: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    return function


def _die_with_parent(prctl: Callable[..., int]) -> Callable[[], None]:
    """Run in the child before exec: SIGTERM when the thread that started it ends, so a
    controller killed outright does not leave model servers behind (they drain)."""

    def set_death_signal() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))

    return set_death_signal


@dataclass
class _Process:
    version: Version
    proc: subprocess.Popen[str]
    started: float
    url: str | None = None
    ready: bool = False
    log: deque[str] = field(default_factory=lambda: deque(maxlen=200))
    stopping: bool = False

    def read(self) -> None:
        """Collect the server's stderr; the address comes from its "Listening on" line."""
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line.rstrip())
            match = LISTENING.search(line)
            if match and self.url is None:
                self.url = match.group(1)


class LocalProcesses:
    """One ``shipyard serve`` child process per version, on loopback ports it picks itself."""

    def __init__(
        self,
        *,
        endpoint: str,
        project: str,
        env: Mapping[str, str] | None = None,
        serve_args: Sequence[str] = (),
        prediction_log: str | None = None,
        host: str = "127.0.0.1",
        probe_timeout_s: float = 1.0,
        grace_period_s: float = 30.0,
    ) -> None:
        self.endpoint = endpoint
        self.grace_period_s = grace_period_s
        self.project = project
        self.env = dict(os.environ if env is None else env)
        self.env["SHIPYARD_CLIENT_PROJECT"] = project  # models:/NAME/VERSION is looked up in the endpoint's project
        self.serve_args = list(serve_args)
        self.prediction_log = prediction_log
        self.host = host
        self._procs: dict[str, _Process] = {}
        self._draining: list[_Process] = []
        self._failures: dict[str, int] = {}
        self._not_before: dict[str, float] = {}
        self._http = httpx.Client(timeout=probe_timeout_s)
        self._prctl = _prctl()

    # -- the interface ----------------------------------------------------------------
    def reconcile(self, wanted: Iterable[Version]) -> None:
        keep = {v.label: v for v in wanted}
        for label in [label for label in self._procs if label not in keep]:
            self._stop(self._procs.pop(label))
        now = time.monotonic()
        for label, version in keep.items():
            if label not in self._procs and now >= self._not_before.get(label, 0.0):
                self._procs[label] = self._start(version)
        self._draining = [p for p in self._draining if p.proc.poll() is None]

    def check(self) -> None:
        for label, p in list(self._procs.items()):
            code = p.proc.poll()
            if code is not None:
                self._died(label, p, code)
                continue
            p.ready = p.url is not None and _probe(self._http, p.url)
            if p.ready:
                self._failures.pop(label, None)

    def ready(self, label: str) -> bool:
        p = self._procs.get(label)
        return p is not None and p.ready

    def url(self, label: str) -> str | None:
        p = self._procs.get(label)
        return p.url if p is not None else None

    def describe(self) -> list[dict[str, object]]:
        return [
            {
                "version": label,
                "pid": p.proc.pid,
                "url": p.url,
                "ready": p.ready,
                "restarts": self._failures.get(label, 0),
            }
            for label, p in sorted(self._procs.items())
        ]

    def close(self) -> None:
        for p in self._procs.values():
            self._stop(p)
        self._procs.clear()
        deadline = time.monotonic() + self.grace_period_s + STOP_MARGIN_S
        for p in self._draining:
            try:
                p.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("model server still running after the grace period; killing it", version=p.version.label)
                p.proc.kill()
                p.proc.wait()
        self._draining.clear()
        self._http.close()

    # -- processes --------------------------------------------------------------------
    def command(self, version: Version) -> list[str]:
        argv = [sys.executable, "-m", "shipyard", "serve", f"models:/{version.model}/{version.version}"]
        argv += ["--host", self.host, "--port", "0", "--name", version.model]
        argv += ["--grace-period", f"{self.grace_period_s:g}", *self.serve_args]
        if version.replicas > 1:
            argv += ["--workers", str(version.replicas)]
        if self.prediction_log:
            argv += ["--prediction-log", self.prediction_log, "--prediction-log-project", self.project]
            argv += ["--prediction-log-endpoint", self.endpoint]
        return argv

    def _start(self, version: Version) -> _Process:
        argv = self.command(version)
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
            start_new_session=True,  # a Ctrl-C at the terminal reaches the controller, which drains them
            # Only a call through a function pointer looked up beforehand runs between fork and exec.
            preexec_fn=_die_with_parent(self._prctl) if self._prctl is not None else None,  # noqa: PLW1509
        )
        p = _Process(version=version, proc=proc, started=time.monotonic())
        threading.Thread(target=p.read, name=f"serve-{version.label}", daemon=True).start()
        log.info("model server starting", endpoint=self.endpoint, version=version.label, pid=proc.pid)
        return p

    def _stop(self, p: _Process) -> None:
        if p.proc.poll() is None and not p.stopping:
            log.info("model server stopping", endpoint=self.endpoint, version=p.version.label, pid=p.proc.pid)
            p.stopping = True
            p.proc.send_signal(signal.SIGTERM)
        self._draining.append(p)

    def _died(self, label: str, p: _Process, code: int) -> None:
        failures = self._failures.get(label, 0) + 1
        self._failures[label] = failures
        delay = RESTART_DELAYS_S[min(failures, len(RESTART_DELAYS_S)) - 1]
        tail = " | ".join(list(p.log)[-3:])
        log.error(
            "model server exited; restarting it",
            endpoint=self.endpoint,
            version=label,
            exit_code=code,
            restart_in_s=delay,
            last_lines=tail,
        )
        del self._procs[label]
        self._not_before[label] = time.monotonic() + delay


class StaticBackends:
    """Servers someone else runs, at ``url_template.format(endpoint=, model=, version=)``."""

    def __init__(self, *, endpoint: str, url_template: str, probe_timeout_s: float = 1.0) -> None:
        self.endpoint = endpoint
        self.url_template = url_template
        self._urls: dict[str, str] = {}
        self._ready: dict[str, bool] = {}
        self._http = httpx.Client(timeout=probe_timeout_s)

    def url_of(self, v: Version) -> str:
        """The template filled in; ``{service}`` is the version's Kubernetes Service name."""
        from shipyard.deploy.kubernetes import version_name

        service = version_name(self.endpoint, v.model, v.version)
        return self.url_template.format(endpoint=self.endpoint, model=v.model, version=v.version, service=service)

    def reconcile(self, wanted: Iterable[Version]) -> None:
        urls = {v.label: self.url_of(v).rstrip("/") for v in wanted}
        self._ready = {label: self._ready.get(label, False) for label in urls}
        self._urls = urls

    def check(self) -> None:
        self._ready = {label: _probe(self._http, url) for label, url in self._urls.items()}

    def ready(self, label: str) -> bool:
        return self._ready.get(label, False)

    def url(self, label: str) -> str | None:
        return self._urls.get(label)

    def describe(self) -> list[dict[str, object]]:
        return [
            {"version": label, "url": url, "ready": self._ready.get(label, False)} for label, url in self._urls.items()
        ]

    def close(self) -> None:
        self._http.close()


__all__ = ["READY_PATH", "Backends", "LocalProcesses", "StaticBackends", "Version"]
