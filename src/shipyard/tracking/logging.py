"""Logging to a run: params (immutable), tags and metric points, in one batch.

Metric points are appended to ``metrics`` with one driver-level ``executemany`` (the
hot path of every training loop: no ORM or per-row parameter processing); the latest
point per key is upserted into ``latest_metrics`` only when it is newer (higher step,
then newer timestamp), so search never scans the history.
"""

from __future__ import annotations

import math
import time

from sqlalchemy import Dialect, and_, insert, or_, select
from sqlalchemy.orm import Session

from shipyard.errors import Conflict
from shipyard.events import service as events
from shipyard.events.context import Actor
from shipyard.projects.tables import Project
from shipyard.store.upsert import upsert
from shipyard.tracking import runs
from shipyard.tracking.schemas import LogBatch, LogBatchResult
from shipyard.tracking.tables import LatestMetric, Metric, Param, RunTag


def _check_params(session: Session, run_id: str, batch: LogBatch) -> list[dict[str, str]]:
    """New params to insert; re-logging an identical value is fine, a different one is not."""
    wanted: dict[str, str] = {}
    for p in batch.params:
        if p.key in wanted and wanted[p.key] != p.value:
            raise Conflict(
                f"param '{p.key}' appears twice in the batch with different values ('{wanted[p.key]}' and '{p.value}')",
                {"key": p.key, "values": [wanted[p.key], p.value]},
            )
        wanted[p.key] = p.value
    if not wanted:
        return []
    existing = dict(
        session.execute(select(Param.key, Param.value).where(Param.run_id == run_id, Param.key.in_(wanted))).all()
    )
    for key, value in wanted.items():
        if key in existing and existing[key] != value:
            raise Conflict(
                f"param '{key}' is already '{existing[key]}' for run '{run_id}'; params are immutable "
                f"(tried to log '{value}')",
                {"key": key, "existing": existing[key], "new": value, "run_id": run_id},
            )
    return [{"run_id": run_id, "key": k, "value": v} for k, v in wanted.items() if k not in existing]


def log_batch(session: Session, actor: Actor, project: Project, run_id: str, batch: LogBatch) -> LogBatchResult:
    run = runs.get(session, project, run_id)
    runs.require_active(run)
    new_params = _check_params(session, run.id, batch)
    if new_params:
        session.execute(insert(Param), new_params)
    if batch.tags:
        last: dict[str, str] = {t.key: t.value for t in batch.tags}
        upsert(
            session,
            RunTag.__table__,  # type: ignore[arg-type]
            [{"run_id": run.id, "key": k, "value": v} for k, v in last.items()],
            key=["run_id", "key"],
            update=["value"],
        )
    if batch.metrics:
        _log_metrics(session, run.id, batch)
    if batch.params or batch.tags:
        events.record(
            session,
            actor,
            "run.log",
            project_id=project.id,
            object_type="run",
            object_id=run.id,
            details={"params": sorted(p["key"] for p in new_params), "tags": sorted({t.key for t in batch.tags})},
        )
    return LogBatchResult(metrics=len(batch.metrics), params=len(batch.params), tags=len(batch.tags))


_METRIC_COLUMNS = ("run_id", "key", "value", "step", "timestamp_ms")
_insert_sql: dict[str, str] = {}


def _metric_insert_sql(dialect: Dialect) -> str:
    """``INSERT INTO metrics (...) VALUES (?, ...)`` in the driver's positional style."""
    sql = _insert_sql.get(dialect.name)
    if sql is None:
        quote = dialect.identifier_preparer.quote
        marker = "?" if dialect.paramstyle == "qmark" else "%s"
        table = Metric.__table__
        sql = (
            f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "
            f"({', '.join(quote(c) for c in _METRIC_COLUMNS)}) VALUES ({', '.join([marker] * len(_METRIC_COLUMNS))})"
        )
        _insert_sql[dialect.name] = sql
    return sql


def _log_metrics(session: Session, run_id: str, batch: LogBatch) -> None:
    now = int(time.time() * 1000)
    isnan = math.isnan
    rows: list[tuple[str, str, float | None, int, int]] = []
    # key -> (step, timestamp_ms, index into rows) of its latest point in this batch
    latest: dict[str, tuple[int, int, int]] = {}
    for m in batch.metrics:
        key, value, step, ts = m.key, m.value, m.step, m.timestamp
        if ts is None:
            ts = now
        best = latest.get(key)
        if best is None or (step, ts) >= (best[0], best[1]):
            latest[key] = (step, ts, len(rows))
        rows.append((run_id, key, None if isnan(value) else value, step, ts))
    conn = session.connection()
    conn.exec_driver_sql(_metric_insert_sql(conn.dialect), rows)
    upsert(
        session,
        LatestMetric.__table__,  # type: ignore[arg-type]
        [dict(zip(_METRIC_COLUMNS, rows[i], strict=True)) for _, _, i in latest.values()],
        key=["run_id", "key"],
        update=["value", "step", "timestamp_ms"],
        where=lambda cur, new: or_(
            new.step > cur.step, and_(new.step == cur.step, new.timestamp_ms >= cur.timestamp_ms)
        ),
    )
