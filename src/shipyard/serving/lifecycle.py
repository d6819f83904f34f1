"""Running the data plane as a process: uvicorn, readiness, and a graceful drain.

On SIGTERM (or Ctrl-C) the server first reports not-ready (``/v2/health/ready`` and
``/ping`` answer 503), keeps accepting connections for ``drain_delay_s`` so load
balancers notice, then stops accepting, lets in-flight requests finish within
``grace_period_s`` and exits 0. A second Ctrl-C forces the exit. A model that fails to
load makes the process exit 1 instead of idling unready.

With ``--workers N`` (:mod:`shipyard.serving.workers`) each worker process runs a
:class:`ServingServer` in worker mode: it drains on the SIGTERM its supervisor sends,
ignores SIGINT and repeated signals (the supervisor decides), drains if the supervisor
dies, and leaves the ``Listening on`` line to the supervisor.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
from types import FrameType
from typing import TYPE_CHECKING

import uvicorn

from shipyard.logging import get_logger
from shipyard.serving import heap
from shipyard.serving.app import ServingApp, create_serving_app
from shipyard.serving.model import ServedModel
from shipyard.serving.native_http import protocol_for
from shipyard.serving.repository import ModelDirectory
from shipyard.serving.runtime import ModelRuntime
from shipyard.serving.settings import ServingSettings

if TYPE_CHECKING:
    from shipyard.serving.predlog import Sink

log = get_logger("shipyard.serving")
EXIT_LOAD_FAILED = 1


class ServingServer(uvicorn.Server):
    """uvicorn, with readiness failed before shutdown begins and no re-raised signal.
    ``supervisor``: the pid of the process this one is a worker of (worker mode)."""

    def __init__(
        self, config: uvicorn.Config, app: ServingApp, settings: ServingSettings, *, supervisor: int | None = None
    ) -> None:
        super().__init__(config)
        self.serving_app = app
        self.serving_settings = settings
        self.supervisor = supervisor
        self.exit_code = 0
        self._timer: threading.Timer | None = None
        self._drain_logged = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.supervisor is not None and (sig == signal.SIGINT or self.serving_app.dataplane.draining):
            # Ctrl-C reaches the whole process group, and a service manager may signal every
            # process: the supervisor forwards one SIGTERM, and only SIGKILL cuts a drain short.
            return
        if self.serving_app.dataplane.draining or self.should_exit:
            if sig == signal.SIGINT:
                self.force_exit = True
            self.should_exit = True
            return
        self.serving_app.dataplane.begin_drain()
        delay = self.serving_settings.drain_delay_s
        if delay <= 0:
            self.should_exit = True
            return
        self._timer = threading.Timer(delay, self._stop)
        self._timer.daemon = True
        self._timer.start()

    def _stop(self) -> None:
        self.should_exit = True

    def fail(self, runtime: ModelRuntime) -> None:
        """A model failed to load: stop, and exit non-zero."""
        self.exit_code = EXIT_LOAD_FAILED
        self.serving_app.dataplane.begin_drain()
        self.should_exit = True

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.supervisor is None:
            for server in self.servers:
                for sock in server.sockets:
                    announce(sock)

    async def on_tick(self, counter: int) -> bool:
        if self.serving_app.dataplane.draining and not self._drain_logged:
            self._drain_logged = True  # logged here, not in the signal handler that began it
            log.info("draining: readiness now fails", pid=os.getpid())
        orphaned = self.supervisor is not None and counter % 10 == 0 and os.getppid() != self.supervisor
        if orphaned and not self.serving_app.dataplane.draining:
            log.warning("the supervisor process is gone; draining", pid=os.getpid())
            self.handle_exit(signal.SIGTERM, None)
        return await super().on_tick(counter)


def announce(sock: socket.socket) -> None:
    """The line ``shipyard serve`` prints once it answers (tools wait for it)."""
    host, port = sock.getsockname()[:2]
    with contextlib.suppress(OSError, ValueError):  # nobody reads it any more (a gone parent's pipe)
        sys.stderr.write(f"Listening on http://{host}:{port}\n")
        sys.stderr.flush()


def uvicorn_config(
    app: ServingApp, settings: ServingSettings, *, host: str, port: int, headers: list[tuple[str, str]] | None = None
) -> uvicorn.Config:
    """How the data plane runs on uvicorn: lifespan on, no access log, the grace period, and
    the HTTP front ``settings.http`` names."""
    return uvicorn.Config(
        app,
        http=protocol_for(app) if settings.http == "native" else "httptools",
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=max(1, round(settings.grace_period_s)),
        headers=headers or [],
    )


def run_server(
    models: list[ServedModel],
    settings: ServingSettings,
    *,
    host: str,
    port: int,
    prediction_sink: Sink | None = None,
    directory: ModelDirectory | None = None,
) -> int:
    """Serve until SIGTERM/SIGINT, in this process; the process exit code.
    ``prediction_sink``, ``directory``: as in :func:`~shipyard.serving.create_serving_app`."""
    holder: list[ServingServer] = []

    def on_load_failure(runtime: ModelRuntime) -> None:
        if holder:
            holder[0].fail(runtime)

    heap.configure(settings)
    app = create_serving_app(
        models, settings, on_load_failure=on_load_failure, prediction_sink=prediction_sink, directory=directory
    )
    server = ServingServer(uvicorn_config(app, settings, host=host, port=port), app, settings)
    holder.append(server)
    server.run()
    return server.exit_code


__all__ = ["ServingServer", "announce", "run_server", "uvicorn_config"]
