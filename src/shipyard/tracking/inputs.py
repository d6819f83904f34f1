"""Dataset inputs of runs: a dataset is identified by (project, name, digest)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from shipyard.errors import NotFound
from shipyard.events import service as events
from shipyard.events.context import Actor
from shipyard.projects.tables import Project
from shipyard.store.base import new_id
from shipyard.store.upsert import insert_ignore
from shipyard.tracking import runs
from shipyard.tracking.schemas import DatasetOut, LogInputs
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


def find_dataset(session: Session, project: Project, name: str, digest: str | None = None) -> DatasetOut:
    """The dataset ``name`` of ``project`` (with ``digest``, else the newest recorded)."""
    stmt = select(Dataset).where(Dataset.project_id == project.id, Dataset.name == name)
    if digest is not None:
        stmt = stmt.where(Dataset.digest == digest)
    dataset = session.scalar(stmt.order_by(Dataset.created_at.desc(), Dataset.id.desc()).limit(1))
    if dataset is None:
        raise NotFound(
            f"project '{project.name}' has no dataset '{name}'" + (f" with digest {digest}" if digest else ""),
            {"resource": "dataset", "name": name},
        )
    return DatasetOut.model_validate(dataset)


def run_datasets(session: Session, run_id: str, context: str = "training") -> list[DatasetOut]:
    """The datasets logged as inputs of run ``run_id`` in ``context``."""
    rows = session.scalars(
        select(Dataset)
        .join(RunInput, RunInput.dataset_id == Dataset.id)
        .where(RunInput.run_id == run_id, RunInput.context == context)
        .order_by(Dataset.created_at, Dataset.id)
    )
    return [DatasetOut.model_validate(d) for d in rows]


def dataset_registered_at(session: Session, project: Project, name: str, digest: str) -> datetime | None:
    """When ``project`` first recorded dataset ``name`` with ``digest`` (None: never)."""
    return session.scalar(
        select(Dataset.created_at).where(
            Dataset.project_id == project.id, Dataset.name == name, Dataset.digest == digest
        )
    )
