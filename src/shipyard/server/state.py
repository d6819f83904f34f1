"""What one running app holds: settings, the metadata database, the blob store, metrics."""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.artifacts.backends import BlobStore
from shipyard.audit.checkpoints import Notary
from shipyard.auth.authentication import Authenticator
from shipyard.auth.identity import Identity
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
    # Signs audit checkpoints (its key lives outside the database) and says which keys verify them.
    notary: Notary
    # Who acts when a request carries no identity: the OS user in local mode (the person
    # at the keyboard); on a server only public routes run without one.
    default_actor: str = "anonymous"
    # A server authenticates every request with this; local mode has none.
    authenticator: Authenticator | None = None
    # Local mode: the OS user, acting as a local admin on every request, no token.
    local_identity: Identity | None = None
