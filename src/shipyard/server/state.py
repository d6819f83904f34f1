"""What one running app holds: settings, the metadata database, the blob store, metrics."""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.artifacts.backends import BlobStore
from shipyard.server.metrics import HttpMetrics
from shipyard.settings import Settings
from shipyard.store.engine import Database
from shipyard.store.schema import SchemaState


@dataclass
class AppState:
    settings: Settings
    db: Database
    blobs: BlobStore
    schema: SchemaState
    metrics: HttpMetrics
    # Who acts when a request carries no identity: the OS user in local mode (the person
    # at the keyboard), "anonymous" on a server until authentication is configured.
    default_actor: str = "anonymous"
