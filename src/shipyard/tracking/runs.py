"""Run lifecycle use cases: create, read, update status, soft delete and restore."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.errors import Conflict, InvalidArgument, NotFound
from shipyard.events import service as events
from shipyard.events.context import Actor
from shipyard.projects.tables import Project
from shipyard.store.base import new_id, utcnow
from shipyard.tracking import experiments
from shipyard.tracking.schemas import (
    DatasetOut,
    MetricOut,
    RunCreate,
    RunInputOut,
    RunOut,
    RunStatus,
    RunUpdate,
)
from shipyard.tracking.tables import Dataset, LatestMetric, Param, Run, RunInput, RunTag

TERMINAL = {RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED}


def _event(session: Session, actor: Actor, action: str, run: Run, **details: object) -> None:
    events.record(
        session, actor, action, project_id=run.project_id, object_type="run", object_id=run.id, details=details
    )


def get(session: Session, project: Project, run_id: str) -> Run:
    run = session.get(Run, run_id)
    if run is None or run.project_id != project.id:
        raise NotFound(f"run '{run_id}' does not exist in project '{project.name}'", {"resource": "run", "id": run_id})
    return run


def require_active(run: Run) -> None:
    if run.lifecycle_stage != "active":
        raise Conflict(
            f"run '{run.id}' is deleted; restore it before logging to it",
            {"resource": "run", "id": run.id, "lifecycle_stage": run.lifecycle_stage},
        )


def create(session: Session, actor: Actor, project: Project, data: RunCreate) -> Run:
    if data.experiment_id is None:
        exp = experiments.default_for(session, actor, project)
    else:
        exp = experiments.get(session, project, data.experiment_id)
    experiments.require_active(exp)
    if data.parent_run_id is not None:
        parent = get(session, project, data.parent_run_id)
        if parent.experiment_id != exp.id:
            raise InvalidArgument(
                f"parent run '{parent.id}' belongs to experiment {parent.experiment_id}, not {exp.id}",
                {"field": "parent_run_id"},
            )
    run_id = new_id()
    run = Run(
        id=run_id,
        name=data.name or f"run-{run_id[:8]}",
        project_id=project.id,
        experiment_id=exp.id,
        parent_run_id=data.parent_run_id,
        user_id=data.user_id,
        start_time=data.start_time or utcnow(),
        status=RunStatus.RUNNING.value,
        source=data.source.model_dump(exclude_none=True) if data.source else {},
    )
    session.add(run)
    session.flush()
    for key, value in data.tags.items():
        session.add(RunTag(run_id=run.id, key=key, value=value))
    _event(session, actor, "run.create", run, experiment_id=exp.id, name=run.name)
    session.flush()
    return run


def update(session: Session, actor: Actor, project: Project, run_id: str, data: RunUpdate) -> Run:
    run = get(session, project, run_id)
    changes: dict[str, object] = {}
    if data.name is not None and data.name != run.name:
        changes["name"] = data.name
        run.name = data.name
    if data.status is not None and data.status.value != run.status:
        changes["status"] = {"from": run.status, "to": data.status.value}
        run.status = data.status.value
        if data.status in TERMINAL and data.end_time is None and run.end_time is None:
            run.end_time = utcnow()
        if data.status is RunStatus.RUNNING:
            run.end_time = None
    if data.end_time is not None:
        if data.end_time < run.start_time:
            raise InvalidArgument(
                f"end_time {data.end_time.isoformat()} is before the run's start_time {run.start_time.isoformat()}",
                {"field": "end_time"},
            )
        run.end_time = data.end_time
    session.flush()
    if changes:
        _event(session, actor, "run.update", run, **changes)
    return run


def set_stage(session: Session, actor: Actor, project: Project, run_id: str, stage: str) -> Run:
    run = get(session, project, run_id)
    if run.lifecycle_stage != stage:
        run.lifecycle_stage = stage
        session.flush()
        _event(session, actor, "run.delete" if stage == "deleted" else "run.restore", run)
    return run


def to_out(session: Session, runs: Sequence[Run]) -> list[RunOut]:
    """Runs with their params, tags, latest metrics and inputs, loaded in four queries."""
    ids = [r.id for r in runs]
    params: dict[str, dict[str, str]] = {i: {} for i in ids}
    tags: dict[str, dict[str, str]] = {i: {} for i in ids}
    metrics: dict[str, dict[str, MetricOut]] = {i: {} for i in ids}
    inputs: dict[str, list[RunInputOut]] = {i: [] for i in ids}
    if ids:
        for p in session.scalars(select(Param).where(Param.run_id.in_(ids))):
            params[p.run_id][p.key] = p.value
        for t in session.scalars(select(RunTag).where(RunTag.run_id.in_(ids))):
            tags[t.run_id][t.key] = t.value
        for m in session.scalars(select(LatestMetric).where(LatestMetric.run_id.in_(ids))):
            metrics[m.run_id][m.key] = MetricOut(
                key=m.key, value=math.nan if m.value is None else m.value, step=m.step, timestamp=m.timestamp_ms
            )
        rows = session.execute(
            select(RunInput.run_id, RunInput.context, Dataset)
            .join(Dataset, Dataset.id == RunInput.dataset_id)
            .where(RunInput.run_id.in_(ids))
        )
        for run_id, context, dataset in rows:
            inputs[run_id].append(RunInputOut(dataset=DatasetOut.model_validate(dataset), context=context))
    return [
        RunOut(
            id=r.id,
            experiment_id=r.experiment_id,
            name=r.name,
            status=RunStatus(r.status),
            user_id=r.user_id,
            start_time=r.start_time,
            end_time=r.end_time,
            lifecycle_stage=r.lifecycle_stage,
            parent_run_id=r.parent_run_id,
            source=r.source or {},
            params=params[r.id],
            tags=tags[r.id],
            metrics=metrics[r.id],
            inputs=inputs[r.id],
        )
        for r in runs
    ]


def ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)
