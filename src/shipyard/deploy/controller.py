"""The endpoint controller: reconciles what an endpoint should serve with what runs.

One controller looks after one endpoint. Every tick (a quarter second by default) it

1. reads the endpoint from the control plane (its traffic, its latest rollout and spec);
2. decides which model versions must run: those with traffic, the new routes of a
   rollout in progress (started before they get any traffic, so they are warm), the
   shadow targets, and the versions that served in the last ``scale_down_delay_s``
   (so a rollback, or switching a blue/green back, finds them still running);
3. has its :class:`~shipyard.deploy.backends.Backends` start, health-check and stop
   model servers to match;
4. during an analysis step, every ``interval`` judges the new routes against the stable
   ones on the gateway's samples taken since the step began
   (:func:`shipyard.deploy.analysis.analyse`);
5. reports readiness and the verdict (``observe``); the control plane's state machine
   moves the rollout (pause timers, analysis outcome, abort) and records each transition
   with its reason;
6. points the gateway at the endpoint's traffic, but only once every version in it is
   ready: until then the gateway keeps the table it has, so a switch, a promotion or a
   rollback never sends a request to a server that cannot answer it.

All state lives in the control plane: a controller that restarts (or a new one) reads
the rollout where it stands, starts the servers, and carries on; pause timers run from
the time stored with the phase. What a restart loses is the gateway's samples, so an
analysis step in progress gathers its samples again.

While a blue/green rollout is in progress its new routes get no traffic; the gateway
mirrors every request to them instead (like a shadow, answers never returned), which
warms them and gives the analysis its samples.

If the control plane cannot be reached, the gateway keeps serving the last traffic it
was given, and the controller tries again at the next tick.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shipyard.deploy.backends import Backends, Version
from shipyard.deploy.gateway import Backend, Gateway, GatewayConfig, Shadow
from shipyard.deploy.rollout import TERMINAL, Phase
from shipyard.errors import ShipyardError
from shipyard.logging import get_logger

if TYPE_CHECKING:
    from shipyard.client import Client
    from shipyard.deploy.analysis import AnalysisResult
    from shipyard.deploy.schemas import EndpointOut, TrafficShare

log = get_logger("shipyard.controller")


@dataclass(frozen=True)
class ControllerSettings:
    tick_s: float = 0.25  # how often the controller looks (a rollback reaches traffic within about this)
    scale_down_delay_s: float = 30.0  # how long a version that stopped serving keeps running
    judge_interval_s: float | None = None  # override every analysis step's interval (tests, demos)


@dataclass
class ControllerStatus:
    """What the controller knows after a tick (``GET /-/status`` of ``shipyard endpoints serve``)."""

    endpoint: str
    revision: int = 0
    phase: str = ""
    serving: list[str] = field(default_factory=list)  # the gateway's routes
    waiting_for: list[str] = field(default_factory=list)  # versions not ready yet
    last_error: str | None = None
    ticks: int = 0
    backends: list[dict[str, object]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "revision": self.revision,
            "phase": self.phase,
            "serving": self.serving,
            "waiting_for": self.waiting_for,
            "last_error": self.last_error,
            "ticks": self.ticks,
            "backends": self.backends,
        }


def _versions(shares: Iterable[TrafficShare | dict[str, Any]]) -> list[Version]:
    found = []
    for share in shares:
        item = share if isinstance(share, dict) else share.model_dump()
        if item.get("weight", 1) > 0:
            found.append(Version(str(item["model"]), int(item["version"])))
    return found


@dataclass
class _Judging:
    """The analysis step being judged: since when (monotonic) and when next."""

    key: tuple[int, int]  # (revision, step)
    since: float
    next_at: float


class Controller:
    def __init__(
        self,
        client: Client,
        endpoint: str,
        *,
        project: str | None,
        gateway: Gateway,
        backends: Backends,
        settings: ControllerSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.endpoint = endpoint
        self.project = project
        self.gateway = gateway
        self.backends = backends
        self.settings = settings or ControllerSettings()
        self.clock = clock
        self.status = ControllerStatus(endpoint=endpoint)
        self._last_served: dict[str, tuple[Version, float]] = {}
        self._judging: _Judging | None = None

    # -- one tick ----------------------------------------------------------------------
    def tick(self) -> ControllerStatus:
        """Look once and act (see the module docstring). Errors reaching the control plane
        are kept in ``status.last_error``; the gateway keeps its table."""
        self.status.ticks += 1
        try:
            self._tick()
            self.status.last_error = None
        except ShipyardError as exc:
            self._failed(f"{exc.code}: {exc.message}")
        except OSError as exc:  # httpx transport errors are OSErrors underneath, or wrap them
            self._failed(f"cannot reach the control plane: {exc}")
        except Exception as exc:  # the controller must outlive any single bad tick
            if type(exc).__module__.startswith("httpx"):
                self._failed(f"cannot reach the control plane: {exc}")
            else:
                log.error("controller tick failed", endpoint=self.endpoint, exc_info=True)
                self._failed(f"{type(exc).__name__}: {exc}")
        self.status.backends = self.backends.describe()
        return self.status

    def _failed(self, message: str) -> None:
        if message != self.status.last_error:
            log.warning("controller: %s", message, endpoint=self.endpoint)
        self.status.last_error = message

    def _tick(self) -> None:
        ep = self.client.get_endpoint(self.endpoint, project=self.project)
        self._run_backends(ep)
        rollout = ep.rollout
        assert rollout is not None
        if Phase(rollout.phase) not in TERMINAL:
            ready = all(self.backends.ready(v.label) for v in _versions(rollout.to_routes))
            verdict = self._judge(ep)
            ep = self.client.observe_endpoint(
                self.endpoint, revision=ep.revision, ready=ready, analysis=verdict, project=self.project
            )
        self._route(ep)
        self.status.revision = ep.revision
        self.status.phase = ep.rollout.phase if ep.rollout is not None else ep.phase

    def _wanted(self, ep: EndpointOut) -> dict[str, Version]:
        now = self.clock()
        wanted: dict[str, Version] = {}
        for v in _versions(ep.traffic) + _versions(ep.stable_routes):
            wanted[v.label] = v
        rollout = ep.rollout
        if rollout is not None and Phase(rollout.phase) not in TERMINAL:
            for v in _versions(rollout.to_routes):
                wanted[v.label] = v
        for s in ep.spec.shadow:
            wanted[f"{s.model}/{s.version}"] = Version(s.model, s.version)
        for label, (version, at) in list(self._last_served.items()):
            if now - at <= self.settings.scale_down_delay_s:
                wanted.setdefault(label, version)
            else:
                del self._last_served[label]
        return wanted

    def _run_backends(self, ep: EndpointOut) -> None:
        replicas = ep.spec.replicas.min
        self.backends.reconcile(
            Version(v.model, v.version, replicas) if replicas > 1 else v for v in self._wanted(ep).values()
        )
        self.backends.check()

    # -- analysis ------------------------------------------------------------------------
    def _judge(self, ep: EndpointOut) -> AnalysisResult | None:
        rollout = ep.rollout
        assert rollout is not None
        if rollout.phase != Phase.ANALYSING.value:
            self._judging = None
            return None
        now = self.clock()
        key = (ep.revision, rollout.step_index)
        step = ep.spec.strategy.steps[rollout.step_index].analysis
        assert step is not None
        interval = self.settings.judge_interval_s or step.interval
        if self._judging is None or self._judging.key != key:
            self._judging = _Judging(key=key, since=now, next_at=now + interval)
            return None
        if now < self._judging.next_at:
            return None
        self._judging.next_at = now + interval
        from shipyard.deploy.analysis import analyse

        stable_labels = {v.label for v in _versions(rollout.from_routes)}
        candidate_labels = [v.label for v in _versions(rollout.to_routes) if v.label not in stable_labels]
        stable = self._samples(stable_labels, self._judging.since)
        candidate = self._samples(candidate_labels, self._judging.since)
        spec = ep.spec.effective_analysis
        wanted = {c.metric for c in spec.checks}
        for side in (stable, candidate):
            for metric in wanted - side.keys():
                side[metric] = []  # e.g. a quality metric nobody measures here: inconclusive
        verdict = analyse(spec, stable, candidate)
        log.info(
            "analysis",
            endpoint=self.endpoint,
            revision=ep.revision,
            step=rollout.step_index,
            outcome=verdict.outcome,
            score=verdict.score,
            n_stable=len(stable.get("error", [])),
            n_candidate=len(candidate.get("error", [])),
        )
        return verdict

    def _samples(self, labels: Iterable[str], since: float) -> dict[str, list[float]]:
        merged: dict[str, list[float]] = {"error": [], "latency_ms": []}
        for label in labels:
            for metric, values in self.gateway.samples(label, since=since).items():
                merged.setdefault(metric, []).extend(values)
        return merged

    # -- routing ---------------------------------------------------------------------------
    def _backend(self, v: Version) -> Backend | None:
        url = self.backends.url(v.label)
        if url is None or not self.backends.ready(v.label):
            return None
        return Backend(model=v.model, version=v.version, url=url)

    def _route(self, ep: EndpointOut) -> None:
        routes: list[tuple[Backend, float]] = []
        waiting: list[str] = []
        for share in ep.traffic:
            v = Version(share.model, share.version)
            backend = self._backend(v)
            if backend is None:
                waiting.append(v.label)
            else:
                routes.append((backend, share.weight))
        shadows = [
            Shadow(b, s.sample_rate)
            for s in ep.spec.shadow
            if (b := self._backend(Version(s.model, s.version))) is not None
        ]
        rollout = ep.rollout
        if rollout is not None and rollout.strategy == "blue_green" and Phase(rollout.phase) not in TERMINAL:
            # the preview: every request mirrored to the new routes while they have no traffic
            live = {b.label for b, w in routes if w > 0}
            for v in _versions(rollout.to_routes):
                b = self._backend(v)
                if b is not None and v.label not in live:
                    shadows.append(Shadow(b, 1.0))
        self.status.waiting_for = waiting
        config = GatewayConfig(endpoint=self.endpoint, routes=routes, shadows=shadows)
        # Until every version in the new table answers, the gateway keeps the one it has.
        if not waiting and config != self.gateway.config:
            before = sorted(f"{b.label} {w:g}%" for b, w in self.gateway.config.routes)
            after = sorted(f"{b.label} {w:g}%" for b, w in routes)
            if before != after:
                log.info("gateway routes", endpoint=self.endpoint, before=before, after=after)
            self.gateway.update(config)
        now = self.clock()
        serving = [(b, w) for b, w in self.gateway.config.routes if w > 0]
        for b, _ in serving:
            self._last_served[b.label] = (Version(b.model, b.version), now)
        self.status.serving = [f"{b.label} {w:g}%" for b, w in serving]

    # -- running -----------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Tick until ``stop`` is set (the thread ``shipyard endpoints serve`` starts)."""
        while not stop.is_set():
            started = self.clock()
            self.tick()
            stop.wait(max(0.0, self.settings.tick_s - (self.clock() - started)))


__all__ = ["Controller", "ControllerSettings", "ControllerStatus"]
