"""Dataset inputs of runs: a dataset is identified by (project, name, digest)."""

from __future__ import annotations

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from shipyard.events import service as events
from shipyard.events.context import Actor
from shipyard.projects.tables import Project
from shipyard.store.base import new_id
from shipyard.store.upsert import insert_ignore
from shipyard.tracking import runs
from shipyard.tracking.schemas import LogInputs
from shipyard.tracking.tables import Dataset, RunInput


def log_inputs(session: Session, actor: Actor, project: Project, run_id: str, data: LogInputs) -> int:
    run = runs.get(session, project, run_id)
    runs.require_active(run)
    insert_ignore(
        session,
        Dataset.__table__,  # type: ignore[arg-type]
        [
            {
                "id": new_id(),
                "project_id": project.id,
                "name": d.name,
                "digest": d.digest,
                "source_uri": d.source_uri,
                "schema": d.schema_,
                "row_count": d.row_count,
                "profile": d.profile,
            }
            for d in data.datasets
        ],
        key=["project_id", "name", "digest"],
    )
    ids = {
        (name, digest): dataset_id
        for dataset_id, name, digest in session.execute(
            select(Dataset.id, Dataset.name, Dataset.digest).where(
                Dataset.project_id == project.id,
                tuple_(Dataset.name, Dataset.digest).in_([(d.name, d.digest) for d in data.datasets]),
            )
        )
    }
    insert_ignore(
        session,
        RunInput.__table__,  # type: ignore[arg-type]
        [{"run_id": run.id, "dataset_id": ids[(d.name, d.digest)], "context": d.context} for d in data.datasets],
        key=["run_id", "dataset_id", "context"],
    )
    events.record(
        session,
        actor,
        "run.log_inputs",
        project_id=project.id,
        object_type="run",
        object_id=run.id,
        details={"datasets": [{"name": d.name, "digest": d.digest, "context": d.context} for d in data.datasets]},
    )
    return len(data.datasets)
