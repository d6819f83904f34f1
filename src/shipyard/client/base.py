"""``shipyard.Client``: typed access to a Shipyard server, or to an in-process one.

With a URL (argument, ``client.url`` setting or ``SHIPYARD_CLIENT_URL``) it speaks HTTP.
Without one it runs the same ASGI app in-process over the embedded stores
(``$SHIPYARD_HOME``), so both modes share every rule and return the same objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from pydantic import BaseModel

from shipyard.errors import Unavailable, from_envelope
from shipyard.settings import Settings, load_settings
from shipyard.store.pagination import Page

M = TypeVar("M", bound=BaseModel)
Progress = Callable[[int], None]
LOCAL_BASE_URL = "http://shipyard.local"
UPLOAD_CHUNK = 1024 * 1024


class BaseClient:
    """Talk to Shipyard.

    >>> client = Client()                          # local mode, $SHIPYARD_HOME
    >>> client = Client("http://127.0.0.1:8765", token="sy_…")   # a running server

    A server needs an API token: ``token=``, else the ``client.token`` setting
    (``SHIPYARD_CLIENT_TOKEN``). It is sent as ``Authorization: Bearer``. Local mode
    needs none: it acts as the OS user.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        project: str | None = None,
        settings: Settings | None = None,
        timeout_s: float | None = None,
        token: str | None = None,
    ) -> None:
        if settings is None:
            settings = load_settings({"client.url": url, "client.project": project}).settings
        self.settings = settings
        self.url = url or settings.client.url
        self.project = project or settings.client.project
        timeout = httpx.Timeout(timeout_s or settings.client.timeout_s)
        if self.url:
            secret = token or (settings.client.token.get_secret_value() if settings.client.token else None)
            headers = {"Authorization": f"Bearer {secret}"} if secret else {}
            self._http = httpx.Client(base_url=self.url.rstrip("/"), timeout=timeout, headers=headers)
        else:
            from shipyard.client.transport import InProcessTransport
            from shipyard.server.app import create_app

            transport = InProcessTransport(create_app(settings, embedded=True))
            self._transport: InProcessTransport | None = transport
            self._http = httpx.Client(base_url=LOCAL_BASE_URL, transport=transport, timeout=timeout)
        self.is_local = not self.url

    # -- plumbing --------------------------------------------------------------------
    def close(self) -> None:
        self._http.close()
        if self.is_local:
            from shipyard.server.state import AppState

            transport = getattr(self, "_transport", None)
            if transport is not None:
                state: AppState = transport.app.state.shipyard
                state.db.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise Unavailable(f"cannot reach Shipyard at {self.url or 'local mode'}: {exc}") from exc
        _raise_for_error(response)
        return response

    def _json(self, method: str, path: str, model: type[M], **kwargs: Any) -> M:
        return model.model_validate(self._request(method, path, **kwargs).json())

    def _project(self, project: str | None) -> str:
        return project or self.project

    # -- server ----------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", "/healthz").json()
        return result

    def ready(self) -> dict[str, Any]:
        """The readiness report; raises :class:`Unavailable` (with the checks in
        ``details``) when a store is unreachable."""
        result: dict[str, Any] = self._request("GET", "/readyz").json()
        return result

    def server_info(self) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", "/api/v1/server-info").json()
        return result


def _page(max_results: int | None, page_token: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if max_results is not None:
        params["max_results"] = max_results
    if page_token:
        params["page_token"] = page_token
    return params


T = TypeVar("T")


def _all_pages(fetch: Callable[..., Page[T]]) -> Iterator[T]:
    token: str | None = None
    while True:
        page = fetch(page_token=token)
        yield from page.items
        token = page.next_page_token
        if not token:
            return


def _read_chunks(path: Path, progress: Progress | None) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(UPLOAD_CHUNK):
            if progress:
                progress(len(chunk))
            yield chunk


def _raise_for_error(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        body = response.json()
    except ValueError:
        body = None
    raise from_envelope(body if isinstance(body, dict) else {}, response.status_code)
