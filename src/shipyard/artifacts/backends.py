"""Blob backends, chosen by URL scheme.

A :class:`BlobStore` keeps immutable blobs under ``<root>/sha256/<aa>/<bb>/<digest>``.
Writes are staged (:meth:`BlobStore.stage`) and become visible only when complete and
verified: a local file is renamed into place (``os.replace`` is atomic on POSIX); an
object store gets a single PUT or a multipart upload, which no reader sees until it
completes. A writer that dies mid-upload leaves only a staging file, never a blob.

``file`` (and bare paths) use :class:`LocalBlobStore`; every other fsspec scheme (``s3``,
``gs``, ``az``, ``memory``) uses :class:`FsspecBlobStore`. More can be added with
:func:`register_backend`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import fsspec
from fsspec.core import url_to_fs

from shipyard.artifacts.digests import check_digest, verified
from shipyard.errors import DigestMismatch, InvalidArgument, NotFound, Unavailable
from shipyard.settings import ArtifactSettings

STAGING_DIR = ".staging"


class StagedBlob:
    """A blob being written: hash as you write, then :meth:`commit` or let it be discarded."""

    def __init__(self, store: BlobStore, staging_path: Path) -> None:
        self._store = store
        self.path = staging_path
        self._fh: BinaryIO = staging_path.open("wb")
        self._hash = hashlib.sha256()
        self.size = 0
        self.digest: str | None = None

    def write(self, chunk: bytes) -> None:
        self._fh.write(chunk)
        self._hash.update(chunk)
        self.size += len(chunk)

    def commit(self, expected: str | None = None) -> str:
        """Make the blob visible under its digest; refuse it if ``expected`` differs."""
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        digest = self._hash.hexdigest()
        if expected is not None and expected != digest:
            raise InvalidArgument(
                f"the uploaded bytes hash to sha256:{digest}, not the stated sha256:{expected}",
                {"field": "digest", "expected": expected, "actual": digest},
            )
        if not self._store.exists(digest) or not self._store.intact(digest):
            # New, or stored bytes that rotted: the verified upload (re)places them.
            self._store._publish(self.path, digest)
        self.digest = digest
        return digest

    def discard(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> StagedBlob:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.discard()


class BlobStore(ABC):
    """Content-addressed, immutable blobs. Subclasses implement the five storage verbs."""

    def __init__(self, url: str, staging_root: Path, chunk_size: int) -> None:
        self.url = url
        self.staging_root = staging_root
        self.chunk_size = chunk_size

    @staticmethod
    def key(digest: str) -> str:
        return f"sha256/{digest[:2]}/{digest[2:4]}/{digest}"

    # -- writing -------------------------------------------------------------------
    def stage(self) -> StagedBlob:
        self.staging_root.mkdir(parents=True, exist_ok=True)
        return StagedBlob(self, self.staging_root / f"{uuid.uuid4().hex}.part")

    def put_bytes(self, data: bytes, expected: str | None = None) -> str:
        with self.stage() as staged:
            staged.write(data)
            return staged.commit(expected)

    def put_file(self, path: Path, expected: str | None = None) -> str:
        with self.stage() as staged, path.open("rb") as fh:
            while chunk := fh.read(self.chunk_size):
                staged.write(chunk)
            return staged.commit(expected)

    # -- reading -------------------------------------------------------------------
    def iter_verified(self, digest: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Stream a blob. A whole-blob read is checked against its digest (raising
        :class:`DigestMismatch` after the last chunk); a byte range cannot be, so the
        reader of a resumed download checks the whole file itself."""
        digest = check_digest(digest)
        if start == 0 and end is None:
            return verified(self._iter(digest, 0, None), digest)
        return self._iter(digest, start, end)

    def read_bytes(self, digest: str) -> bytes:
        return b"".join(self.iter_verified(digest))

    def verify(self, digest: str) -> None:
        for _ in self.iter_verified(digest):
            pass

    def intact(self, digest: str) -> bool:
        """Whether the stored bytes still hash to ``digest``."""
        try:
            self.verify(digest)
        except DigestMismatch:
            return False
        return True

    def _iter(self, digest: str, start: int, end: int | None) -> Iterator[bytes]:
        with self._open(digest) as fh:
            if start:
                fh.seek(start)
            remaining = None if end is None else end - start + 1
            while remaining is None or remaining > 0:
                want = self.chunk_size if remaining is None else min(self.chunk_size, remaining)
                chunk = fh.read(want)
                if not chunk:
                    break
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    # -- storage verbs -------------------------------------------------------------
    @abstractmethod
    def exists(self, digest: str) -> bool: ...

    @abstractmethod
    def size(self, digest: str) -> int: ...

    @abstractmethod
    def ping(self) -> None:
        """Raise :class:`Unavailable` when the store cannot be reached."""

    @abstractmethod
    def _open(self, digest: str) -> BinaryIO: ...

    @abstractmethod
    def _publish(self, staged: Path, digest: str) -> None:
        """Move a complete, verified staging file to the blob's final key, atomically."""

    def _missing(self, digest: str) -> NotFound:
        return NotFound(f"blob sha256:{digest} is not in the artifact store", {"resource": "blob", "digest": digest})


class LocalBlobStore(BlobStore):
    """Blobs as read-only files in a local directory; staging lives beside them so the
    final rename never crosses a filesystem."""

    def __init__(self, root: Path, chunk_size: int) -> None:
        self.root = root.expanduser().resolve()
        super().__init__(str(self.root), self.root / STAGING_DIR, chunk_size)

    def path(self, digest: str) -> Path:
        return self.root / self.key(digest)

    def exists(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def size(self, digest: str) -> int:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            raise self._missing(digest) from None

    def ping(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=".ping-", delete=True):
                pass
        except OSError as exc:
            raise Unavailable(f"artifact store {self.root} is not writable: {exc.strerror}") from exc

    def _open(self, digest: str) -> BinaryIO:
        try:
            return self.path(digest).open("rb")
        except FileNotFoundError:
            raise self._missing(digest) from None

    def _publish(self, staged: Path, digest: str) -> None:
        final = self.path(digest)
        final.parent.mkdir(parents=True, exist_ok=True)
        staged.chmod(0o444)
        os.replace(staged, final)  # atomic, and replaces a corrupted copy in place


class FsspecBlobStore(BlobStore):
    """Blobs in any fsspec filesystem (S3 and compatibles, GCS, Azure, memory).

    Staging is a local file; publishing uploads it straight to the final key, which an
    object store makes visible only once the upload completes."""

    def __init__(self, url: str, staging_root: Path, chunk_size: int, storage_options: dict[str, Any]) -> None:
        super().__init__(url, staging_root, chunk_size)
        self.fs, self.root = open_filesystem(url, storage_options, "artifacts.url")

    def _full(self, digest: str) -> str:
        return f"{self.root}/{self.key(digest)}"

    def exists(self, digest: str) -> bool:
        with _unavailable(self.url):
            return bool(self.fs.exists(self._full(digest)))

    def size(self, digest: str) -> int:
        try:
            with _unavailable(self.url):
                return int(self.fs.size(self._full(digest)))
        except FileNotFoundError:
            raise self._missing(digest) from None

    def ping(self) -> None:
        with _unavailable(self.url):
            # Ask the store, not fsspec's listing cache, or an outage would look healthy.
            self.fs.invalidate_cache(self.root)
            path = self.root
            while True:
                try:
                    self.fs.ls(path, detail=False)
                    return
                except FileNotFoundError:
                    # A prefix with no blob yet is an empty store. Walk up: on an object
                    # store (no root marker) the bucket must exist; on a hierarchical
                    # filesystem directories appear with the first write.
                    parent: str = self.fs._parent(path)
                    if not parent.strip("/") or parent == path:
                        if self.fs.root_marker:
                            return
                        raise Unavailable(
                            f"artifact store {self.url} failed: bucket or container '{path}' does not exist"
                        ) from None
                    path = parent

    def _open(self, digest: str) -> BinaryIO:
        try:
            with _unavailable(self.url):
                fh: BinaryIO = self.fs.open(self._full(digest), "rb", block_size=self.chunk_size)
                return fh
        except FileNotFoundError:
            raise self._missing(digest) from None

    def _publish(self, staged: Path, digest: str) -> None:
        with _unavailable(self.url):
            self.fs.put_file(str(staged), self._full(digest))
        staged.unlink(missing_ok=True)


@contextmanager
def _unavailable(url: str) -> Iterator[None]:
    """Turn a storage client's connection failures into :class:`Unavailable`."""
    try:
        yield
    except (FileNotFoundError, DigestMismatch, NotFound):
        raise
    except (OSError, ConnectionError, TimeoutError) as exc:
        raise Unavailable(f"artifact store {url} failed: {type(exc).__name__}: {exc}") from exc
    except Exception as exc:
        if type(exc).__module__.startswith(("botocore", "aiobotocore", "aiohttp")):
            raise Unavailable(f"artifact store {url} failed: {type(exc).__name__}: {exc}") from exc
        raise


BackendBuilder = Callable[[str, ArtifactSettings, Path], BlobStore]
_BACKENDS: dict[str, BackendBuilder] = {}


def register_backend(scheme: str, builder: BackendBuilder) -> None:
    _BACKENDS[scheme] = builder


def _s3_options(cfg: ArtifactSettings) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if cfg.s3_endpoint_url:
        options["endpoint_url"] = cfg.s3_endpoint_url
    if cfg.s3_access_key_id:
        options["key"] = cfg.s3_access_key_id.get_secret_value()
    if cfg.s3_secret_access_key:
        options["secret"] = cfg.s3_secret_access_key.get_secret_value()
    if cfg.s3_region:
        options["client_kwargs"] = {"region_name": cfg.s3_region}
    return options


def storage_options(url: str, cfg: ArtifactSettings | None) -> dict[str, Any]:
    """The fsspec options for ``url``: for ``s3://`` (and ``s3a://``) the S3 endpoint, region
    and credentials of ``cfg``; none otherwise."""
    scheme = url.split("://", 1)[0] if "://" in url else "file"
    return _s3_options(cfg) if cfg is not None and scheme in ("s3", "s3a") else {}


def open_filesystem(url: str, options: dict[str, Any], field: str) -> tuple[Any, str]:
    """``(fsspec filesystem, root path)`` for ``url``; one fsspec cannot open (unknown scheme,
    missing extra such as ``s3fs``) is :class:`InvalidArgument` naming ``field``."""
    try:
        fs, root = url_to_fs(url, **options)
    except (ImportError, ValueError) as exc:
        raise InvalidArgument(f"{field} {url} cannot be opened: {exc}", {"field": field}) from exc
    return fs, str(root).rstrip("/")


def _local(url: str, cfg: ArtifactSettings, home: Path) -> BlobStore:
    return LocalBlobStore(Path(url.removeprefix("file://")), cfg.chunk_size)


def _fsspec(url: str, cfg: ArtifactSettings, home: Path) -> BlobStore:
    return FsspecBlobStore(url, home / "tmp" / "staging", cfg.chunk_size, storage_options(url, cfg))


register_backend("file", _local)


def open_blob_store(url: str, cfg: ArtifactSettings, home: Path) -> BlobStore:
    scheme = url.split("://", 1)[0] if "://" in url else "file"
    builder = _BACKENDS.get(scheme)
    if builder is None:
        if scheme not in fsspec.available_protocols():
            raise InvalidArgument(f"artifacts.url scheme '{scheme}' is not supported", {"field": "artifacts.url"})
        builder = _fsspec
    return builder(url, cfg, home)


def clean_staging(store: BlobStore, older_than_s: float = 24 * 3600) -> int:
    """Delete staging files left by writers that died; returns how many."""
    if not store.staging_root.is_dir():
        return 0
    cutoff = time.time() - older_than_s
    removed = 0
    for part in store.staging_root.glob("*.part"):
        try:
            if part.stat().st_mtime < cutoff:
                part.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed


__all__ = [
    "BlobStore",
    "FsspecBlobStore",
    "LocalBlobStore",
    "StagedBlob",
    "clean_staging",
    "open_blob_store",
    "open_filesystem",
    "register_backend",
    "storage_options",
]
