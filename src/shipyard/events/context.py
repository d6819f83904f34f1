"""Who is acting: carried from the edge (HTTP request, CLI) into every service call that
changes state, so each change is recorded with its actor and request id."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    name: str
    request_id: str | None = None
    source: str | None = None  # the caller's network address, when there is one


SYSTEM = Actor("system")
