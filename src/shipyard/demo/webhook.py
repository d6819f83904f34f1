"""A webhook receiver for the demo: a real HTTP server on loopback that records what it is sent."""

from __future__ import annotations

import json
from contextlib import ExitStack
from typing import Any

from starlette.types import Receive, Scope, Send

from shipyard.demo.background_server import serve_in_thread


class Receiver:
    """``with Receiver() as hook``: ``hook.url`` takes POSTs; ``hook.received`` holds their JSON bodies."""

    def __init__(self) -> None:
        self.received: list[Any] = []
        self.url = ""
        self._stack = ExitStack()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        try:
            self.received.append(json.loads(body or b"null"))
        except ValueError:
            self.received.append(body.decode("utf-8", "replace"))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def __enter__(self) -> Receiver:
        self.url = self._stack.enter_context(serve_in_thread(self)) + "/hooks/shipyard"
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()


__all__ = ["Receiver"]
