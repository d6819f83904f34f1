"""Metric history, downsampled on the server for charts of millions of points.

Up to ``max_points`` points come back as logged. Beyond that the step range is cut into
``max_points`` equal buckets and each bucket returns its first step, mean, min, max and
count (NaN points are counted but left out of the aggregates), computed in SQL so a
million-point history never leaves the database.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shipyard.errors import InvalidArgument, NotFound
from shipyard.projects.tables import Project
from shipyard.tracking import runs
from shipyard.tracking.schemas import HistoryPoint, MetricHistory
from shipyard.tracking.tables import Metric

MAX_POINTS_LIMIT = 25_000


def _value(v: float | None) -> float:
    return math.nan if v is None else v


def history(
    session: Session,
    project: Project,
    run_id: str,
    key: str,
    *,
    max_points: int = 1000,
    start_step: int | None = None,
    end_step: int | None = None,
) -> MetricHistory:
    if not 1 <= max_points <= MAX_POINTS_LIMIT:
        raise InvalidArgument(f"max_points must be between 1 and {MAX_POINTS_LIMIT}", {"field": "max_points"})
    run = runs.get(session, project, run_id)
    where = [Metric.run_id == run.id, Metric.key == key]
    if start_step is not None:
        where.append(Metric.step >= start_step)
    if end_step is not None:
        where.append(Metric.step <= end_step)
    total, lo, hi = session.execute(
        select(func.count(), func.min(Metric.step), func.max(Metric.step)).where(*where)
    ).one()
    if total == 0:
        exists = session.scalar(select(Metric.id).where(Metric.run_id == run.id, Metric.key == key).limit(1))
        if exists is None:
            raise NotFound(f"run '{run.id}' has no metric '{key}'", {"resource": "metric", "key": key})
        return MetricHistory(run_id=run.id, key=key, total_points=0, downsampled=False, points=[])
    if total <= max_points:
        rows = session.execute(
            select(Metric.step, Metric.value, Metric.timestamp_ms)
            .where(*where)
            .order_by(Metric.step, Metric.timestamp_ms, Metric.id)
        ).all()
        points = [HistoryPoint(step=s, value=_value(v), timestamp=t) for s, v, t in rows]
        return MetricHistory(run_id=run.id, key=key, total_points=total, downsampled=False, points=points)
    width = max(1, math.ceil((hi - lo + 1) / max_points))
    bucket = ((Metric.step - lo) // width).label("bucket")
    buckets: list[Any] = list(
        session.execute(
            select(
                bucket,
                func.min(Metric.step),
                func.avg(Metric.value),
                func.min(Metric.value),
                func.max(Metric.value),
                func.count(),
                func.max(Metric.timestamp_ms),
            )
            .where(*where)
            .group_by(bucket)
            .order_by(bucket)
        )
    )
    points = [
        HistoryPoint(
            step=first_step,
            value=_value(None if mean is None else float(mean)),
            min=None if vmin is None else float(vmin),
            max=None if vmax is None else float(vmax),
            count=count,
            timestamp=ts,
        )
        for _, first_step, mean, vmin, vmax, count, ts in buckets
    ]
    return MetricHistory(run_id=run.id, key=key, total_points=total, downsampled=True, points=points)
