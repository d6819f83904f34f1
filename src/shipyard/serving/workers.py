"""``shipyard serve --workers N``: the models loaded once, shared by N forked worker processes.

A model whose ``predict`` holds the GIL (pure Python, much of scikit-learn) serves one
call at a time per process; N workers serve N. Each worker is a fork of a parent that
has loaded and warmed up every model, so the models' memory is shared copy-on-write
instead of multiplied by N (the trap of servers whose workers each load their own copy).

1. **Parent, before forking.** It binds the listening socket (a port in use fails at
   once), then loads and warms every model on its main thread
   (:meth:`~shipyard.serving.repository.ModelRepository.preload`) with
   ``OMP_NUM_THREADS=1`` unless that is set: a GNU OpenMP thread team (LightGBM,
   XGBoost, scikit-learn's histogram GBMs) started before ``fork()`` deadlocks the
   children's next parallel call, and with N processes the processes are the
   parallelism. Then ``gc.freeze()``, so the children's collector never writes to the
   pages of the objects they share, and N forks. No thread runs in the parent.
2. **Workers.** Each runs uvicorn on the inherited socket, with its own event loop,
   batchers, compute and loader threads, all created after the fork. The kernel hands
   each connection to one of them, as with uvicorn's and gunicorn's own workers. (A
   shared socket rather than ``SO_REUSEPORT``: connections queued on a worker's own
   ``SO_REUSEPORT`` socket are reset when that worker dies or drains, and macOS does not
   balance ``SO_REUSEPORT`` at all; the price is a less even spread under light load.)
   Replies carry ``X-Shipyard-Worker: <pid>``.
3. **Supervision.** A worker that exits is replaced by a new fork of the parent (sharing
   the models too), after a back-off when workers keep dying young; the parent stops
   with exit 1 if one slot dies young :data:`MAX_YOUNG_DEATHS` times in a row. On
   SIGTERM or SIGINT the parent sends every worker one SIGTERM; each drains as a single
   server does (readiness fails, ``drain_delay_s``, in-flight requests finish within
   ``grace_period_s``); the parent waits for them and exits 0, killing any worker still
   there :data:`KILL_MARGIN_S` after the grace period. A second SIGINT kills the workers
   at once (exit 1). Workers ignore SIGINT themselves (Ctrl-C reaches the whole process
   group), and a worker whose parent dies drains and exits.
4. **Metrics.** prometheus_client's multiprocess mode, in a temporary directory the
   parent creates and removes: ``/metrics``, whichever worker answers, adds up all
   workers' counters and histograms (a dead worker's counts stay), sums the live
   workers' in-flight and queued gauges, and shows each model's memory once.

The models are fixed once the workers run: the repository's load and unload answer 409.
"""

from __future__ import annotations

import gc
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from shipyard.errors import InvalidArgument, Unavailable
from shipyard.logging import get_logger
from shipyard.serving import heap
from shipyard.serving.app import ServingApp, create_serving_app
from shipyard.serving.lifecycle import EXIT_LOAD_FAILED, ServingServer, announce, uvicorn_config
from shipyard.serving.metrics import ServingMetrics
from shipyard.serving.model import ServedModel
from shipyard.serving.repository import ModelDirectory
from shipyard.serving.settings import ServingSettings

if TYPE_CHECKING:
    from shipyard.serving.predlog import Sink

log = get_logger("shipyard.serving")
WORKER_HEADER = "x-shipyard-worker"
RESTART_DELAYS_S = (0.0, 0.5, 1.0, 2.0, 5.0)  # after 0, 1, 2, 3, 4+ young deaths in a row
YOUNG_S = 10.0  # a worker that dies younger than this counts towards the back-off
MAX_YOUNG_DEATHS = 5
KILL_MARGIN_S = 5.0
EXIT_WORKERS_FAILING = 1
POLL_S = 0.05
BACKLOG = 2048


def run_workers(
    models: list[ServedModel],
    settings: ServingSettings,
    *,
    host: str,
    port: int,
    workers: int,
    prediction_sink: Sink | None = None,
    directory: ModelDirectory | None = None,
) -> int:
    """Serve with ``workers`` forked processes sharing the models until SIGTERM/SIGINT;
    the process exit code. The arguments are :func:`~shipyard.serving.run_server`'s."""
    if workers < 2:
        raise InvalidArgument("run_workers needs at least 2 workers; use run_server for one", {"field": "workers"})
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # before the models' libraries load (see the module docstring)
    metrics_dir = Path(tempfile.mkdtemp(prefix="shipyard-metrics-"))
    try:
        heap.configure(settings)  # inherited by the workers
        metrics = ServingMetrics.multiprocess(metrics_dir)
        app = create_serving_app(
            models, settings, metrics=metrics, prediction_sink=prediction_sink, directory=directory
        )
        app.dataplane.repository.fixed = (
            f"this server runs {workers} worker processes sharing the models loaded before they started, "
            "so its models are fixed; loading and unloading need a single process (--workers 1)"
        )
        with bind(host, port) as sock:
            failed = app.dataplane.repository.preload()
            if failed:
                log.error("not starting the workers: a model failed to load", models=[r.label for r in failed])
                return EXIT_LOAD_FAILED
            return Supervisor(app, settings, sock, workers, metrics, host=host).run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (0: any free port), for every worker to accept on."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and
    # without it a reply written in two parts waits for the client's delayed ACK (~40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise Unavailable(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}", {"host": host, "port": port}
        ) from None
    return sock


@dataclass
class Worker:
    slot: int
    pid: int
    started: float


class Supervisor:
    """The parent of the workers: forks them, replaces the ones that die, stops them."""

    def __init__(
        self,
        app: ServingApp,
        settings: ServingSettings,
        sock: socket.socket,
        count: int,
        metrics: ServingMetrics,
        *,
        host: str,
    ) -> None:
        self.app = app
        self.settings = settings
        self.sock = sock
        self.count = count
        self.metrics = metrics
        self.host = host
        self.pid = os.getpid()
        self.workers: dict[int, Worker] = {}
        self._young_deaths = [0] * count
        self._due: dict[int, float] = {}  # slot -> when to start its next worker
        self._signals: list[int] = []
        self._stopping_since: float | None = None
        self._killed = False
        self.exit_code = 0

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for slot in range(self.count):
                self._spawn(slot)
            announce(self.sock)
            self._supervise()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self.exit_code

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        if self._stopping_since is None:
            # Forward at once, not at the next poll: until a worker has the signal it still
            # answers ready, and readiness must fail as soon as the server is told to stop.
            self._stop(0)
            self._signals.append(-sig)  # logged by the loop (no logging inside a handler)
            return
        self._signals.append(sig)

    # -- the loop --------------------------------------------------------------------------
    def _supervise(self) -> None:
        while True:
            self._reap()
            while self._signals:
                self._signalled(self._signals.pop(0))
            now = time.monotonic()
            if self._stopping_since is None:
                for slot, due in sorted(self._due.items()):
                    if now >= due:
                        del self._due[slot]
                        self._spawn(slot)
            elif not self.workers:
                log.info("all workers stopped", pid=self.pid, exit_code=self.exit_code)
                return
            elif not self._killed and now - self._stopping_since > self._stop_timeout_s():
                log.error("workers still running after the grace period; killing them", pids=sorted(self.workers))
                self._send(signal.SIGKILL)
            time.sleep(POLL_S)

    def _stop_timeout_s(self) -> float:
        return self.settings.drain_delay_s + self.settings.grace_period_s + KILL_MARGIN_S

    def _signalled(self, sig: int) -> None:
        if sig < 0:  # the first stop signal, already forwarded by the handler
            log.info("stopping: draining every worker", signal=signal.Signals(-sig).name, workers=len(self.workers))
        elif sig == signal.SIGINT:
            log.warning("second interrupt: killing the workers", pids=sorted(self.workers))
            self.exit_code = 1
            self._send(signal.SIGKILL)

    def _stop(self, exit_code: int) -> None:
        self._stopping_since = time.monotonic()
        self.exit_code = exit_code
        self._due.clear()
        self._send(signal.SIGTERM)

    def _send(self, sig: int) -> None:
        if sig == signal.SIGKILL:
            self._killed = True
        for pid in list(self.workers):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                continue

    def _reap(self) -> None:
        while self.workers:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            worker = self.workers.pop(pid, None)
            if worker is None:
                continue
            self.metrics.process_exited(pid)
            how = _describe(status)
            if self._stopping_since is not None:
                log.info("worker stopped", worker=worker.slot, pid=pid, exit=how)
                continue
            self._replace(worker, how)

    def _replace(self, worker: Worker, how: str) -> None:
        young = time.monotonic() - worker.started < YOUNG_S
        deaths = self._young_deaths[worker.slot] = self._young_deaths[worker.slot] + 1 if young else 0
        if deaths >= MAX_YOUNG_DEATHS:
            log.error("a worker keeps dying at start; stopping", worker=worker.slot, exit=how, deaths=deaths)
            self._stop(EXIT_WORKERS_FAILING)
            return
        delay = RESTART_DELAYS_S[min(deaths, len(RESTART_DELAYS_S) - 1)]
        log.warning("worker died; starting another", worker=worker.slot, pid=worker.pid, exit=how, delay_s=delay)
        self._due[worker.slot] = time.monotonic() + delay

    # -- forking ---------------------------------------------------------------------------
    def _spawn(self, slot: int) -> None:
        others = [t.name for t in threading.enumerate() if t is not threading.current_thread()]
        if others:  # they would not exist in the child, and may hold locks it needs
            log.warning("threads are running in the parent at fork time", threads=others)
        gc.collect()
        gc.freeze()  # the children's collector leaves the shared objects' pages alone
        pid = os.fork()
        if pid == 0:
            self._child(slot)  # never returns
        self.workers[pid] = Worker(slot, pid, time.monotonic())
        log.info("worker started", worker=slot, pid=pid)

    def _child(self, slot: int) -> None:
        code = 1
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # until uvicorn takes over; see ServingServer
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            port = self.sock.getsockname()[1]
            headers = [(WORKER_HEADER, str(os.getpid()))]
            config = uvicorn_config(self.app, self.settings, host=self.host, port=port, headers=headers)
            server = ServingServer(config, self.app, self.settings, supervisor=self.pid)
            server.run(sockets=[self.sock])
            code = server.exit_code
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)  # never back into the parent's stack (its cleanup is the parent's)


def _describe(status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


__all__ = ["Supervisor", "bind", "run_workers"]
