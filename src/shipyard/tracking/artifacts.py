"""Files logged under a run (``runs:/<run id>/<path>``). Each path names a blob that the
project already holds; a path, once logged, always names the same bytes."""

from __future__ import annotations

import posixpath

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.artifacts import service as blobs
from shipyard.artifacts.digests import check_digest
from shipyard.artifacts.tables import BlobRecord
from shipyard.errors import Conflict, InvalidArgument, NotFound
from shipyard.events import service as events
from shipyard.events.context import Actor
from shipyard.projects.tables import Project
from shipyard.store.pagination import Page, paginate
from shipyard.tracking import runs
from shipyard.tracking.schemas import LogArtifacts
from shipyard.tracking.tables import RunArtifact


def clean_path(path: str, field: str = "path") -> str:
    """A relative POSIX path with no '..', no empty or absolute parts."""
    norm = posixpath.normpath(path.replace("\\", "/")).lstrip("/")
    if not norm or norm == "." or norm.startswith("..") or "/../" in f"/{norm}/":
        raise InvalidArgument(f"artifact path '{path}' must be a relative path inside the run", {"field": field})
    return norm


def clean_prefix(prefix: str | None) -> str:
    if not prefix:
        return ""
    return clean_path(prefix, "prefix").rstrip("/") + "/"


def log_artifacts(
    session: Session, actor: Actor, project: Project, run_id: str, data: LogArtifacts
) -> list[RunArtifact]:
    run = runs.get(session, project, run_id)
    runs.require_active(run)
    wanted: dict[str, str] = {}
    for f in data.files:
        path = clean_path(f.path)
        digest = check_digest(f.digest)
        if wanted.get(path, digest) != digest:
            raise Conflict(f"artifact '{path}' appears twice with different digests", {"path": path})
        wanted[path] = digest
    existing = {
        a.path: a
        for a in session.scalars(select(RunArtifact).where(RunArtifact.run_id == run.id, RunArtifact.path.in_(wanted)))
    }
    out: list[RunArtifact] = []
    for path, digest in wanted.items():
        if path in existing:
            if existing[path].digest != digest:
                raise Conflict(
                    f"artifact '{path}' of run '{run.id}' already holds sha256:{existing[path].digest}; "
                    "logged artifacts are immutable",
                    {"path": path, "existing": existing[path].digest, "new": digest},
                )
            out.append(existing[path])
            continue
        record = _blob_of(session, project, digest)
        artifact = RunArtifact(run_id=run.id, path=path, digest=digest, size=record.size)
        session.add(artifact)
        out.append(artifact)
    session.flush()
    events.record(
        session,
        actor,
        "run.log_artifacts",
        project_id=project.id,
        object_type="run",
        object_id=run.id,
        details={"files": sorted(wanted)[:100], "count": len(wanted)},
    )
    return out


def _blob_of(session: Session, project: Project, digest: str) -> BlobRecord:
    record = blobs.held(session, project, digest)
    if record is None:
        raise NotFound(
            f"blob sha256:{digest} has not been uploaded to project '{project.name}'; "
            "upload it before logging it as an artifact",
            {"resource": "blob", "digest": digest},
        )
    return record


def list_artifacts(
    session: Session, project: Project, run_id: str, *, prefix: str | None, page_token: str | None, page_size: int
) -> Page[RunArtifact]:
    run = runs.get(session, project, run_id)
    pre = clean_prefix(prefix)
    stmt = select(RunArtifact).where(RunArtifact.run_id == run.id)
    if pre:
        stmt = stmt.where(RunArtifact.path.startswith(pre, autoescape=True))
    return paginate(
        session,
        stmt,
        [RunArtifact.path],
        scope=f"artifacts:{run.id}:{pre}",
        page_token=page_token,
        page_size=page_size,
        key_of=lambda a: [a.path],
    )


def all_under(session: Session, project: Project, run_id: str, prefix: str) -> list[RunArtifact]:
    """Every file at ``prefix`` (a file) or under it (a directory)."""
    run = runs.get(session, project, run_id)
    path = clean_path(prefix, "path")
    rows = list(
        session.scalars(
            select(RunArtifact)
            .where(RunArtifact.run_id == run.id)
            .where((RunArtifact.path == path) | RunArtifact.path.startswith(path + "/", autoescape=True))
            .order_by(RunArtifact.path)
        )
    )
    if not rows:
        raise NotFound(f"run '{run.id}' has no artifact at '{path}'", {"resource": "artifact", "path": path})
    return rows
