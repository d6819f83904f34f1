"""Content-addressed blobs through the SDK: streamed, verified, resumable."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx

from shipyard.artifacts.digests import check_digest, file_digest
from shipyard.artifacts.schemas import BlobInfo, BlobList
from shipyard.client.base import BaseClient, Progress, _page, _raise_for_error, _read_chunks
from shipyard.errors import DigestMismatch, Unavailable
from shipyard.store.pagination import Page


class BlobsAPI(BaseClient):
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
        if offset:
            size = self.blob_info(digest, project=project).size
            if offset > size:
                offset = 0  # not a prefix of this blob: start over
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        if progress and offset:
            progress(offset)
        if offset and offset == size:
            return self._finish_download(digest, part, dest)  # killed just before the rename
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
        return self._finish_download(digest, part, dest)

    @staticmethod
    def _finish_download(digest: str, part: Path, dest: Path) -> Path:
        actual, _ = file_digest(part)
        if actual != digest:
            part.unlink(missing_ok=True)
            raise DigestMismatch(digest, actual, where="downloaded blob")
        os.replace(part, dest)
        return dest
