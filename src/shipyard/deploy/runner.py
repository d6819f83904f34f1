"""``shipyard endpoints serve NAME``: one process running an endpoint's gateway on uvicorn
and its controller in a thread beside it (see :mod:`shipyard.deploy.controller`).

Besides the gateway's own paths (``/-/ready``, ``/metrics`` and the inference paths) it
answers ``GET /-/status`` with what the controller knows: revision, phase, the routes the
gateway serves, versions it waits for, each model server, the last error.

On SIGTERM (or Ctrl-C) uvicorn stops accepting and lets requests in flight finish within
the grace period; then the controller stops and every model server it started is drained
(SIGTERM) and awaited.
"""

from __future__ import annotations

import json
import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING, Any

from shipyard.deploy.backends import Backends
from shipyard.deploy.controller import Controller, ControllerSettings
from shipyard.deploy.gateway import Gateway, GatewayConfig
from shipyard.logging import get_logger

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

    from shipyard.client import Client

log = get_logger("shipyard.controller")
STATUS_PATH = "/-/status"


class EndpointApp:
    """The gateway, plus ``/-/status``."""

    def __init__(self, gateway: Gateway, controller: Controller) -> None:
        self.gateway = gateway
        self.controller = controller

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == STATUS_PATH:
            body = json.dumps(self.controller.status.as_dict()).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self.gateway(scope, receive, send)


def _server_class() -> type[Any]:
    import uvicorn

    class GatewayServer(uvicorn.Server):
        """uvicorn without re-raising the signal after shutdown: the model servers are
        drained after the gateway stops, and the process exits 0."""

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            if self.should_exit and sig == signal.SIGINT:
                self.force_exit = True
            else:
                self.should_exit = True

    return GatewayServer


def run_endpoint(
    client: Client,
    endpoint: str,
    *,
    project: str | None,
    backends: Backends,
    host: str = "127.0.0.1",
    port: int = 8080,
    settings: ControllerSettings | None = None,
    grace_period_s: float = 30.0,
) -> int:
    """Serve ``endpoint`` until SIGTERM/SIGINT; returns the exit code."""
    import uvicorn

    from shipyard.serving.lifecycle import announce
    from shipyard.serving.workers import bind

    gateway = Gateway(GatewayConfig(endpoint=endpoint, routes=[]))
    controller = Controller(client, endpoint, project=project, gateway=gateway, backends=backends, settings=settings)
    stop = threading.Event()
    # A long-lived thread: model servers die with the thread that started them (PR_SET_PDEATHSIG).
    thread = threading.Thread(target=controller.run, args=(stop,), name=f"controller-{endpoint}", daemon=True)
    config = uvicorn.Config(
        EndpointApp(gateway, controller),
        lifespan="on",
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=int(grace_period_s),
    )
    server = _server_class()(config)
    sock = bind(host, port)
    thread.start()
    try:
        announce(sock)
        server.run(sockets=[sock])
    finally:
        stop.set()
        thread.join(timeout=10)
        backends.close()
        sock.close()
    log.info("endpoint stopped", endpoint=endpoint)
    return 0


__all__ = ["STATUS_PATH", "EndpointApp", "run_endpoint"]
