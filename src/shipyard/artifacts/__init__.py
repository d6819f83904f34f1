"""Artifact store: immutable, content-addressed (sha256) blobs over fsspec."""

from shipyard.artifacts.backends import BlobStore, open_blob_store, register_backend
from shipyard.artifacts.schemas import BlobInfo, BlobList

__all__ = [
    "BlobInfo",
    "BlobList",
    "BlobStore",
    "open_blob_store",
    "register_backend",
]
