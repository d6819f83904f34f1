"""Running the data plane as a process: uvicorn, readiness, and a graceful drain.

On SIGTERM (or Ctrl-C) the server first reports not-ready (``/v2/health/ready`` and
``/ping`` answer 503), keeps accepting connections for ``drain_delay_s`` so load
balancers notice, then stops accepting, lets in-flight requests finish within
``grace_period_s`` and exits 0. A second Ctrl-C forces the exit. A model that fails to
load makes the process exit 1 instead of idling unready.
"""

from __future__ import annotations

import signal
import socket
import sys
import threading
from types import FrameType

import uvicorn

from shipyard.logging import get_logger
from shipyard.serving.app import ServingApp, create_serving_app
from shipyard.serving.model import ServedModel
from shipyard.serving.runtime import ModelRuntime
from shipyard.serving.settings import ServingSettings

log = get_logger("shipyard.serving")
EXIT_LOAD_FAILED = 1


class ServingServer(uvicorn.Server):
    """uvicorn, with readiness failed before shutdown begins and no re-raised signal."""

    def __init__(self, config: uvicorn.Config, app: ServingApp, settings: ServingSettings) -> None:
        super().__init__(config)
        self.serving_app = app
        self.serving_settings = settings
        self.exit_code = 0
        self._timer: threading.Timer | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
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
        for server in self.servers:
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                sys.stderr.write(f"Listening on http://{host}:{port}\n")
                sys.stderr.flush()


def run_server(models: list[ServedModel], settings: ServingSettings, *, host: str, port: int) -> int:
    """Serve until SIGTERM/SIGINT; the process exit code."""
    holder: list[ServingServer] = []

    def on_load_failure(runtime: ModelRuntime) -> None:
        if holder:
            holder[0].fail(runtime)

    app = create_serving_app(models, settings, on_load_failure=on_load_failure)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=max(1, round(settings.grace_period_s)),
    )
    server = ServingServer(config, app, settings)
    holder.append(server)
    server.run()
    return server.exit_code


__all__ = ["ServingServer", "run_server"]
