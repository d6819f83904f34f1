"""Blob use cases: record, look up and list the blobs a project holds."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.artifacts.digests import check_digest
from shipyard.artifacts.tables import BlobRecord
from shipyard.errors import NotFound
from shipyard.projects.tables import Project
from shipyard.store.pagination import Page, paginate


def record(session: Session, project: Project, digest: str, size: int) -> tuple[BlobRecord, bool]:
    """Record that ``project`` holds a stored blob; returns (record, created)."""
    existing = session.get(BlobRecord, (project.id, digest))
    if existing is not None:
        return existing, False
    blob = BlobRecord(project_id=project.id, digest=digest, size=size)
    session.add(blob)
    session.flush()
    return blob, True


def get(session: Session, project: Project, digest: str) -> BlobRecord:
    digest = check_digest(digest)
    blob = session.get(BlobRecord, (project.id, digest))
    if blob is None:
        raise NotFound(
            f"blob sha256:{digest} does not exist in project '{project.name}'",
            {"resource": "blob", "digest": digest, "project": project.name},
        )
    return blob


def held(session: Session, project: Project, digest: str) -> BlobRecord | None:
    """The project's record of a blob, if it holds it. Holding is per project: knowing a
    digest another project stored does not let you read those bytes, so a project must
    upload (and the server verify) the bytes once before it holds them."""
    return session.get(BlobRecord, (project.id, check_digest(digest)))


def list_blobs(session: Session, project: Project, *, page_token: str | None, page_size: int) -> Page[BlobRecord]:
    return paginate(
        session,
        select(BlobRecord).where(BlobRecord.project_id == project.id),
        [BlobRecord.created_at, BlobRecord.digest],
        scope=f"blobs:{project.id}",
        page_token=page_token,
        page_size=page_size,
        key_of=lambda b: [b.created_at, b.digest],
        descending=True,
    )
