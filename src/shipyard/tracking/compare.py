"""Several runs side by side: params, latest metrics and tags aligned by key."""

from __future__ import annotations

import math

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.errors import NotFound
from shipyard.projects.tables import Project
from shipyard.tracking import runs
from shipyard.tracking.schemas import RunComparison
from shipyard.tracking.tables import Run


def compare(
    session: Session, project: Project, run_ids: list[str], metric_keys: list[str] | None = None
) -> RunComparison:
    unique = list(dict.fromkeys(run_ids))
    found = {r.id: r for r in session.scalars(select(Run).where(Run.id.in_(unique), Run.project_id == project.id))}
    missing = [i for i in unique if i not in found]
    if missing:
        raise NotFound(
            f"run(s) {', '.join(missing)} do not exist in project '{project.name}'", {"resource": "run", "ids": missing}
        )
    views = runs.to_out(session, [found[i] for i in unique])
    params: dict[str, dict[str, str | None]] = {}
    metrics: dict[str, dict[str, float | None]] = {}
    tags: dict[str, dict[str, str | None]] = {}
    for view in views:
        for key in view.params:
            params.setdefault(key, {})
        for key in view.metrics:
            if metric_keys is None or key in metric_keys:
                metrics.setdefault(key, {})
        for key in view.tags:
            tags.setdefault(key, {})
    for view in views:
        for key, row in params.items():
            row[view.id] = view.params.get(key)
        for key, mrow in metrics.items():
            point = view.metrics.get(key)
            mrow[view.id] = None if point is None or math.isnan(point.value) else point.value
        for key, trow in tags.items():
            trow[view.id] = view.tags.get(key)
    differing = sorted(k for k, row in params.items() if len(set(row.values())) > 1)
    return RunComparison(
        runs=[
            {
                "id": v.id,
                "name": v.name,
                "status": v.status.value,
                "experiment_id": v.experiment_id,
                "start_time": v.start_time,
            }
            for v in views
        ],
        params=dict(sorted(params.items())),
        metrics=dict(sorted(metrics.items())),
        tags=dict(sorted(tags.items())),
        differing_params=differing,
    )
