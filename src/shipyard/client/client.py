"""``shipyard.Client``: typed access to a Shipyard server, or to an in-process one.

With a URL (argument, ``client.url`` setting or ``SHIPYARD_CLIENT_URL``) it speaks HTTP.
Without one it runs the same ASGI app in-process over the embedded stores
(``$SHIPYARD_HOME``), so both modes share every rule and return the same objects.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from shipyard.artifacts.digests import check_digest, file_digest
from shipyard.artifacts.schemas import BlobInfo, BlobList
from shipyard.errors import DigestMismatch, ShipyardError, Unavailable, from_envelope
from shipyard.projects.schemas import ProjectList, ProjectOut
from shipyard.settings import Settings, load_settings
from shipyard.store.pagination import Page

M = TypeVar("M", bound=BaseModel)
Progress = Callable[[int], None]
LOCAL_BASE_URL = "http://shipyard.local"
UPLOAD_CHUNK = 1024 * 1024


class Client:
    """Talk to Shipyard.

    >>> client = Client()                          # local mode, $SHIPYARD_HOME
    >>> client = Client("http://127.0.0.1:8765")   # a running server
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        project: str | None = None,
        settings: Settings | None = None,
        timeout_s: float | None = None,
    ) -> None:
        if settings is None:
            settings = load_settings({"client.url": url, "client.project": project}).settings
        self.settings = settings
        self.url = url or settings.client.url
        self.project = project or settings.client.project
        timeout = httpx.Timeout(timeout_s or settings.client.timeout_s)
        if self.url:
            self._http = httpx.Client(base_url=self.url.rstrip("/"), timeout=timeout)
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

    def __enter__(self) -> Client:
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

    # -- projects --------------------------------------------------------------------
    def create_project(self, name: str, description: str = "") -> ProjectOut:
        return self._json("POST", "/api/v1/projects", ProjectOut, json={"name": name, "description": description})

    def get_project(self, name: str | None = None) -> ProjectOut:
        return self._json("GET", f"/api/v1/projects/{self._project(name)}", ProjectOut)

    def update_project(self, name: str, *, description: str | None = None) -> ProjectOut:
        return self._json("PATCH", f"/api/v1/projects/{name}", ProjectOut, json={"description": description})

    def list_projects(self, *, max_results: int | None = None, page_token: str | None = None) -> Page[ProjectOut]:
        body = self._json("GET", "/api/v1/projects", ProjectList, params=_page(max_results, page_token))
        return Page(items=body.projects, next_page_token=body.next_page_token)

    def iter_projects(self) -> Iterator[ProjectOut]:
        return _all_pages(self.list_projects)

    # -- blobs -----------------------------------------------------------------------
    def upload_blob(
        self, source: Path | str | bytes, *, project: str | None = None, progress: Progress | None = None
    ) -> BlobInfo:
        """Store a file (streamed) or bytes; returns its digest and size. Idempotent:
        uploading the same content again stores nothing new."""
        base = f"/api/v1/projects/{self._project(project)}/blobs"
        if isinstance(source, bytes):
            digest = hashlib.sha256(source).hexdigest()
            response = self._request("PUT", f"{base}/{digest}", content=source)
            if progress:
                progress(len(source))
            return BlobInfo.model_validate(response.json())
        path = Path(source)
        digest, _ = file_digest(path)
        return self._json("PUT", f"{base}/{digest}", BlobInfo, content=_read_chunks(path, progress))

    def blob_info(self, digest: str, *, project: str | None = None) -> BlobInfo:
        digest = check_digest(digest)
        return self._json("GET", f"/api/v1/projects/{self._project(project)}/blobs/{digest}/info", BlobInfo)

    def list_blobs(
        self, *, project: str | None = None, max_results: int | None = None, page_token: str | None = None
    ) -> Page[BlobInfo]:
        body = self._json(
            "GET", f"/api/v1/projects/{self._project(project)}/blobs", BlobList, params=_page(max_results, page_token)
        )
        return Page(items=body.blobs, next_page_token=body.next_page_token)

    def read_blob(self, digest: str, *, project: str | None = None) -> bytes:
        digest = check_digest(digest)
        data = self._request("GET", f"/api/v1/projects/{self._project(project)}/blobs/{digest}").content
        actual = hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise DigestMismatch(digest, actual, where="downloaded blob")
        return data

    def download_blob(
        self,
        digest: str,
        dest: Path | str,
        *,
        project: str | None = None,
        progress: Progress | None = None,
        resume: bool = True,
    ) -> Path:
        """Stream a blob to ``dest`` in constant memory. Bytes land in ``<dest>.part``
        first; an interrupted download resumes from there (HTTP ``Range``), and the file
        is renamed into place only after its sha256 checks out."""
        digest = check_digest(digest)
        dest = Path(dest)
        part = dest.with_name(dest.name + ".part")
        url = f"/api/v1/projects/{self._project(project)}/blobs/{digest}"
        offset = part.stat().st_size if resume and part.exists() else 0
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        if progress and offset:
            progress(offset)
        try:
            with self._http.stream("GET", url, headers=headers) as response:
                if response.status_code == 416 and offset:
                    offset = 0  # the partial file is not a prefix of this blob; start over
                    response.close()
                    return self.download_blob(digest, dest, project=project, progress=progress, resume=False)
                if response.status_code >= 400:
                    response.read()
                    _raise_for_error(response)
                mode = "ab" if response.status_code == 206 else "wb"
                with part.open(mode) as fh:
                    for chunk in response.iter_bytes():
                        fh.write(chunk)
                        if progress:
                            progress(len(chunk))
        except httpx.TransportError as exc:
            raise Unavailable(
                f"download of sha256:{digest} was interrupted ({exc}); run it again to resume from {part}"
            ) from exc
        actual, _ = file_digest(part)
        if actual != digest:
            part.unlink(missing_ok=True)
            raise DigestMismatch(digest, actual, where="downloaded blob")
        os.replace(part, dest)
        return dest


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


__all__ = ["Client", "ShipyardError"]
