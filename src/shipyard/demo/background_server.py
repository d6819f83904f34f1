"""A real uvicorn server on a free loopback port, in a background thread (demo and tests)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from shipyard.errors import Unavailable


@contextmanager
def serve_in_thread(
    app: ASGIApp,
    host: str = "127.0.0.1",
    start_timeout_s: float = 20.0,
    *,
    http: type[asyncio.Protocol] | str = "auto",
    **options: Any,
) -> Iterator[str]:
    """Serve ``app`` until the block ends; yields its base URL. ``http`` and ``options``:
    uvicorn's (a model server's native front is ``shipyard.serving.native_http.protocol_for(app)``)."""
    config = uvicorn.Config(
        app, host=host, port=0, log_config=None, access_log=False, lifespan="on", http=http, **options
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="shipyard-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise Unavailable("the background server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=start_timeout_s)
