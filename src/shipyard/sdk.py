"""The module-level API for the common case: one client, one current project.

>>> import shipyard as sy
>>> sy.set_project("fraud")          # local mode unless a server URL is configured
>>> sy.get_client().list_blobs()

Everything here delegates to one lazily created :class:`shipyard.client.Client`.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable

from shipyard.client import Client
from shipyard.errors import NotFound
from shipyard.projects.schemas import ProjectOut
from shipyard.settings import Settings

_lock = threading.RLock()
_client: Client | None = None
_before_switch: list[Callable[[], None]] = []


def before_client_switch(hook: Callable[[], None]) -> None:
    """Run ``hook`` before the current client is closed or replaced (the fluent API
    flushes its buffered metrics through the old client there)."""
    _before_switch.append(hook)


def _switching() -> None:
    for hook in _before_switch:
        hook()


def connect(
    url: str | None = None,
    *,
    project: str | None = None,
    settings: Settings | None = None,
    token: str | None = None,
) -> Client:
    """Use the server at ``url`` (or local mode when None) for later module-level calls.
    A server needs an API token: ``token``, or the ``client.token`` setting."""
    global _client
    with _lock:
        if _client is not None:
            _switching()
            _client.close()
        _client = Client(url, project=project, settings=settings, token=token)
        return _client


def get_client() -> Client:
    """The current client, created from the settings layers on first use."""
    global _client
    with _lock:
        if _client is None:
            _client = Client()
        return _client


def set_project(name: str, *, create: bool = False, description: str = "") -> ProjectOut:
    """Make ``name`` the current project. With ``create=True`` a missing project is created."""
    client = get_client()
    try:
        project = client.get_project(name)
    except NotFound:
        if not create:
            raise NotFound(
                f"project '{name}' does not exist; pass create=True or run `shipyard projects create {name}`",
                {"resource": "project", "name": name},
            ) from None
        project = client.create_project(name, description)
    client.project = project.name
    return project


def get_project() -> str:
    return get_client().project


def _close() -> None:
    global _client
    with _lock:
        if _client is not None:
            _switching()
            _client.close()
            _client = None


atexit.register(_close)

__all__ = [
    "connect",
    "get_client",
    "get_project",
    "set_project",
]
