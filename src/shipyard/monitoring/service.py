"""Monitors: create, read, delete, run one now, run every one whose schedule is due.

A run reads the monitor's window of the endpoint's prediction log (joined with feedback) through
:class:`~shipyard.monitoring.logstore.LogStore`, loads the reference (a registered dataset, or
the training dataset recorded on the model version's run), and stores one ``monitor_results``
row: drift per column and the dataset's drift share (:func:`~shipyard.monitoring.drift.detect_drift`),
data quality (:func:`~shipyard.monitoring.quality.check_quality`) and, with labels,
performance (:func:`~shipyard.monitoring.performance.compute_performance`).

Status of a result: ``drift`` when the dataset drifts (share of drifted columns at least the
spec's ``drift_share``); ``warning`` when a column drifts, a quality check or a performance
check fails; ``ok`` otherwise; ``no_data`` when the window holds no successful prediction;
``error`` when the run could not compute (``message`` says why: an unreadable reference, a
column with no value in the window, …). Runs record their result even when they fail, so the
time series has no silent gaps.

Schedules are cron expressions in UTC (``croniter``). :func:`run_due` runs every enabled
monitor whose ``next_run_at`` has passed and moves it to its next time; on PostgreSQL it locks
the due rows with ``FOR UPDATE SKIP LOCKED``, so several schedulers never run one monitor twice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shipyard.errors import AlreadyExists, InvalidArgument, NotFound, ShipyardError
from shipyard.events import service as events
from shipyard.events.context import Actor
from shipyard.gates import service as gates
from shipyard.monitoring.logstore import LogStore
from shipyard.monitoring.schemas import MonitorIn, MonitorOut, MonitorResultOut, MonitorSpec, parse_window
from shipyard.monitoring.tables import Monitor, MonitorResult
from shipyard.projects.tables import Project
from shipyard.registry import versions
from shipyard.store.pagination import Page, paginate
from shipyard.tracking import inputs

FEATURE_PREFIX = "f_"
PREDICTION = "prediction"


# --- CRUD ---------------------------------------------------------------------------------


def next_run(schedule: str | None, after: datetime) -> datetime | None:
    if schedule is None:
        return None
    from croniter import croniter  # type: ignore[import-untyped]

    value: datetime = croniter(schedule, after.astimezone(UTC)).get_next(datetime)
    return value.astimezone(UTC)


def _event(session: Session, actor: Actor, action: str, monitor: Monitor, **details: object) -> None:
    events.record(
        session,
        actor,
        action,
        project_id=monitor.project_id,
        object_type="monitor",
        object_id=monitor.name,
        details=details,
    )


def create(
    session: Session, actor: Actor, project: Project, data: MonitorIn, *, now: datetime | None = None
) -> Monitor:
    spec = MonitorSpec.model_validate(data.model_dump(exclude={"name"}))
    monitor = Monitor(
        project_id=project.id,
        name=data.name,
        endpoint=spec.endpoint,
        spec=spec.model_dump(mode="json"),
        schedule=spec.schedule,
        enabled=spec.enabled,
        next_run_at=next_run(spec.schedule, now or datetime.now(UTC)) if spec.enabled else None,
        created_by=actor.name,
    )
    try:
        with session.begin_nested():
            session.add(monitor)
            session.flush()
    except IntegrityError as exc:
        raise AlreadyExists(
            f"project '{project.name}' already has a monitor '{data.name}'", {"resource": "monitor", "name": data.name}
        ) from exc
    _event(session, actor, "monitor.create", monitor, endpoint=spec.endpoint, schedule=spec.schedule)
    return monitor


def get(session: Session, project: Project, name: str) -> Monitor:
    monitor = session.scalar(select(Monitor).where(Monitor.project_id == project.id, Monitor.name == name))
    if monitor is None:
        raise NotFound(f"project '{project.name}' has no monitor '{name}'", {"resource": "monitor", "name": name})
    return monitor


def delete(session: Session, actor: Actor, project: Project, name: str) -> None:
    monitor = get(session, project, name)
    _event(session, actor, "monitor.delete", monitor)
    session.delete(monitor)
    session.flush()


def list_monitors(session: Session, project: Project, *, page_token: str | None, page_size: int) -> Page[Monitor]:
    return paginate(
        session,
        select(Monitor).where(Monitor.project_id == project.id),
        [Monitor.name],
        scope=f"monitors:{project.id}",
        page_token=page_token,
        page_size=page_size,
        key_of=lambda m: [m.name],
    )


def list_results(
    session: Session, project: Project, name: str, *, page_token: str | None, page_size: int
) -> tuple[Monitor, Page[MonitorResult]]:
    """The monitor's results, newest first."""
    monitor = get(session, project, name)
    page: Page[MonitorResult] = paginate(
        session,
        select(MonitorResult).where(MonitorResult.monitor_id == monitor.id),
        [MonitorResult.id],
        scope=f"monitor_results:{monitor.id}",
        page_token=page_token,
        page_size=page_size,
        key_of=lambda r: [r.id],
        descending=True,
    )
    return monitor, page


def monitor_out(project: Project, monitor: Monitor) -> MonitorOut:
    return MonitorOut(
        name=monitor.name,
        project=project.name,
        endpoint=monitor.endpoint,
        spec=MonitorSpec.model_validate(monitor.spec),
        schedule=monitor.schedule,
        enabled=monitor.enabled,
        next_run_at=monitor.next_run_at,
        last_run_at=monitor.last_run_at,
        last_status=monitor.last_status,
        created_by=monitor.created_by,
        created_at=monitor.created_at,
        updated_at=monitor.updated_at,
    )


def result_out(monitor: Monitor, result: MonitorResult) -> MonitorResultOut:
    return MonitorResultOut.model_validate({**_columns(result), "monitor": monitor.name})


def _columns(result: MonitorResult) -> dict[str, Any]:
    return {c.key: getattr(result, c.key) for c in MonitorResult.__table__.columns}


# --- running ------------------------------------------------------------------------------


def _read_window(store: LogStore, project: Project, spec: MonitorSpec, now: datetime) -> tuple[Any, datetime | None]:
    """The window's successful predictions (with labels) as a DataFrame, and its start."""
    window = parse_window(spec.window)
    where = "project = ? AND endpoint = ? AND error IS NULL AND rows > 0 AND ts <= ?"
    if isinstance(window, timedelta):
        start: datetime | None = now - window
        since: date | None = (now - window).date()

        def work(con: Any) -> Any:
            sql = f"SELECT * FROM predictions_with_feedback WHERE {where} AND ts > ? ORDER BY ts"
            return con.execute(sql, [project.name, spec.endpoint, now, start]).df()

    else:
        start, since = None, None

        def work(con: Any) -> Any:
            sql = f"SELECT * FROM predictions_with_feedback WHERE {where} ORDER BY ts DESC LIMIT {int(window)}"
            return con.execute(sql, [project.name, spec.endpoint, now]).df().iloc[::-1].reset_index(drop=True)

    frame = store.run(work, project=project.name, endpoint=spec.endpoint, since=since)
    if start is None and len(frame):
        start = frame["ts"].min().to_pydatetime()
    return frame, start


def _no_data(spec: MonitorSpec) -> str:
    return f"no prediction of endpoint '{spec.endpoint}' in the window ({spec.window})"


def _load_file(uri: str, what: str) -> Any:
    import pandas as pd

    path = Path(uri.removeprefix("file://")).expanduser()
    if not uri or "://" in uri.removeprefix("file://") or not path.is_file():
        raise InvalidArgument(
            f"{what} is at {uri!r}, which is not a readable local file (a monitor reads CSV or Parquet files)",
            {"field": "reference"},
        )
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if path.suffix.lower() in (".csv", ".txt"):
        return pd.read_csv(path)
    raise InvalidArgument(f"{what} at {uri!r} is neither .parquet nor .csv", {"field": "reference"})


def _model_version(spec: MonitorSpec, frame: Any) -> tuple[str, int]:
    """The model version a window is about: the reference's, else the one that answered most of it."""
    ref = spec.reference
    if ref.model is not None and ref.version is not None:
        return ref.model, ref.version
    counts = frame.groupby(["model", "version"]).size().sort_values(ascending=False)
    name, raw = counts.index[0]
    try:
        return str(name), int(raw)
    except ValueError as exc:
        raise InvalidArgument(
            f"the window's model version {name}/{raw} is not a registered version; "
            "set reference.model/version or use a dataset reference",
            {"field": "reference"},
        ) from exc


def _offline_metrics(session: Session, project: Project, spec: MonitorSpec, frame: Any) -> dict[str, Any] | None:
    """The newest offline evaluation recorded on the window's model version: its metrics and
    where they come from; None when there is none (or no registered version to look at)."""
    try:
        name, number = _model_version(spec, frame)
        recorded = gates.list_evaluations(session, project, name, number)
    except (InvalidArgument, NotFound):
        return None
    if not recorded:
        return None
    newest = recorded[0]
    metrics = {k: e.value for k, e in newest.result.overall.metrics.items() if e.value is not None}
    return {"model": name, "version": number, "evaluation": newest.id, "metrics": metrics}


def _reference(session: Session, project: Project, spec: MonitorSpec, frame: Any) -> tuple[Any, str]:
    """The reference DataFrame and a description of where it came from."""
    ref = spec.reference
    if ref.kind == "dataset":
        assert ref.dataset is not None
        dataset = inputs.find_dataset(session, project, ref.dataset, ref.digest)
        return _load_file(
            dataset.source_uri, f"dataset '{dataset.name}'"
        ), f"dataset {dataset.name}@{dataset.digest[:12]}"
    name, number = _model_version(spec, frame)
    _, version = versions.get(session, project, str(name), number)
    if version.source_run_id is None:
        raise InvalidArgument(
            f"model version {name}/{number} records no run, so no training dataset; use a dataset reference",
            {"field": "reference"},
        )
    found = [d for d in inputs.run_datasets(session, version.source_run_id, "training") if d.source_uri]
    if not found:  # a DataFrame logged as an input records its digest and profile, not its rows
        raise InvalidArgument(
            f"the run of model version {name}/{number} logged no training dataset with a file "
            "(log it as a path: log_input('/data/train.parquet', context='training')); or use a dataset reference",
            {"field": "reference"},
        )
    dataset = found[0]
    return _load_file(dataset.source_uri, f"training dataset '{dataset.name}'"), f"training data of {name}/{number}"


def _current_features(frame: Any) -> Any:
    """The window with features under their own names (``f_age`` -> ``age``) and the prediction."""
    renamed = {c: c[len(FEATURE_PREFIX) :] for c in frame.columns if c.startswith(FEATURE_PREFIX)}
    keep = list(renamed) + ([PREDICTION] if PREDICTION in frame.columns else [])
    return frame[keep].rename(columns=renamed)


def _compared_columns(spec: MonitorSpec, reference: Any, current: Any) -> list[str]:
    if spec.columns is not None:
        for name in spec.columns:
            for side, data in (("reference", reference), ("window", current)):
                if name not in data.columns:
                    raise InvalidArgument(f"column {name!r} is not in the {side}", {"field": "columns"})
        return list(spec.columns)
    return [c for c in current.columns if c in set(reference.columns)]


@dataclass(frozen=True)
class Comparison:
    """A window set against the monitor's reference: both as DataFrames, features under their
    own names, and the columns the two have in common (or the spec's ``columns``)."""

    reference: Any
    origin: str  # where the reference came from, e.g. "training data of churn/3"
    current: Any
    columns: list[str]


def _compare(session: Session, project: Project, spec: MonitorSpec, frame: Any) -> Comparison:
    reference, origin = _reference(session, project, spec, frame)
    current = _current_features(frame)
    columns = _compared_columns(spec, reference, current)
    if not columns:
        raise InvalidArgument(
            f"the window and the reference ({origin}) share no column to compare", {"field": "columns"}
        )
    return Comparison(reference, origin, current, columns)


def _evaluate(session: Session, project: Project, spec: MonitorSpec, frame: Any, result: MonitorResult) -> None:
    # The computations need the monitoring extra (numpy, pandas, scipy); imported here so the
    # control plane, which imports this module, starts without it.
    from shipyard.monitoring.drift import detect_drift
    from shipyard.monitoring.performance import compute_performance
    from shipyard.monitoring.quality import check_quality, infer_quality_spec

    compared = _compare(session, project, spec, frame)
    reference, origin, current, columns = compared.reference, compared.origin, compared.current, compared.columns
    result.reference_rows = len(reference)
    warnings: list[str] = []
    if spec.drift is not None:
        drift_spec = (
            spec.drift if spec.drift.columns is not None else spec.drift.model_copy(update={"columns": columns})
        )
        report = detect_drift(reference, current, drift_spec)
        result.drift_share = report.share_of_drifted_columns
        result.dataset_drift = report.dataset_drift
        result.drifted_columns = report.drifted_columns
        result.features = [c.model_dump(mode="json") for c in report.columns]
        if report.drifted_columns:
            warnings.append(f"drift in {', '.join(report.drifted_columns)}")
    if spec.quality:
        quality_spec = spec.quality_spec or infer_quality_spec(reference[columns])
        quality = check_quality(current[[c for c in current.columns if c in columns]], quality_spec)
        checks = sorted(quality.checks, key=lambda c: c.passed)
        result.quality_passed = quality.passed
        result.quality = {
            "rows": quality.rows,
            "passed": quality.passed,
            "checks": [c.model_dump(mode="json") for c in checks],
        }
        if not quality.passed:
            warnings.append("quality: " + "; ".join(c.message for c in quality.failures))
    if spec.performance is not None:
        performance = compute_performance(frame, spec.performance, _offline_metrics(session, project, spec, frame))
        result.performance = performance.model_dump(mode="json")
        if not performance.passed:
            failed = [
                f"{c.scope} {c.metric} {c.value:.3g} (limit {c.threshold:.3g})"
                for c in performance.checks
                if not c.passed
            ]
            warnings.append("performance: " + "; ".join(failed))
    if result.dataset_drift:
        result.status = "drift"
    elif warnings:
        result.status = "warning"
    else:
        result.status = "ok"
    result.message = f"vs {origin}" + (": " + " | ".join(warnings) if warnings else "")


def run(
    session: Session,
    project: Project,
    monitor: Monitor,
    store: LogStore,
    *,
    now: datetime | None = None,
    trigger: str = "manual",
) -> MonitorResult:
    """Run ``monitor`` over the window ending at ``now`` and store its result."""
    started = time.perf_counter()
    now = (now or datetime.now(UTC)).astimezone(UTC)
    spec = MonitorSpec.model_validate(monitor.spec)
    result = MonitorResult(
        monitor_id=monitor.id,
        project_id=project.id,
        endpoint=monitor.endpoint,
        trigger=trigger,
        status="error",
        message="",
        window_end=now,
        n_rows=0,
        n_labeled=0,
        reference_rows=0,
        drifted_columns=[],
        features=[],
    )
    try:
        frame, start = _read_window(store, project, spec, now)
        result.window_start = start
        result.n_rows = len(frame)
        result.n_labeled = int(frame["label"].notna().sum()) if len(frame) else 0
        if not len(frame):
            result.status = "no_data"
            result.message = _no_data(spec)
        else:
            _evaluate(session, project, spec, frame, result)
    except ShipyardError as exc:
        result.status = "error"
        result.message = exc.message
    result.duration_ms = (time.perf_counter() - started) * 1000
    session.add(result)
    monitor.last_run_at = now
    monitor.last_status = result.status
    session.flush()
    return result


def run_due(
    session: Session, now: datetime, store: LogStore, *, project: Project | None = None
) -> list[tuple[Monitor, MonitorResult]]:
    """Run every enabled monitor (of ``project``, else of every project) whose schedule is due
    at ``now``; each moves to its next cron time after ``now`` (a monitor missed for hours runs
    once). A monitor is claimed before it runs — its ``next_run_at`` moved forward only if it
    still holds the value read — so schedulers running at once (replicas, cron and the server,
    SQLite or PostgreSQL) never run one monitor twice for one due time."""
    now = now.astimezone(UTC)
    stmt = select(Monitor).where(
        Monitor.enabled.is_(True), Monitor.next_run_at.is_not(None), Monitor.next_run_at <= now
    )
    if project is not None:
        stmt = stmt.where(Monitor.project_id == project.id)
    stmt = stmt.order_by(Monitor.next_run_at, Monitor.id).with_for_update(skip_locked=True)
    done: list[tuple[Monitor, MonitorResult]] = []
    for monitor in list(session.scalars(stmt)):
        due, following = monitor.next_run_at, next_run(monitor.schedule, now)
        claim = (
            update(Monitor)
            .where(Monitor.id == monitor.id, Monitor.next_run_at == due)
            .values(next_run_at=following)
            .execution_options(synchronize_session=False)
        )
        if session.execute(claim).rowcount != 1:  # type: ignore[attr-defined]
            continue  # another scheduler took it
        monitor.next_run_at = following
        owner = session.get(Project, monitor.project_id)
        if owner is None:  # the project went with its monitors (ON DELETE CASCADE)
            continue
        done.append((monitor, run(session, owner, monitor, store, now=now, trigger="schedule")))
    session.flush()
    return done


# --- the report ---------------------------------------------------------------------------

MAX_REPORT_RESULTS = 1000


def report(
    session: Session,
    project: Project,
    name: str,
    store: LogStore,
    *,
    now: datetime | None = None,
    results: int = 50,
) -> str:
    """The monitor's self-contained HTML report (:mod:`shipyard.monitoring.report`): its
    newest ``results`` results as drift and performance over time, the latest result's
    per-column drift and per-slice performance, and the distributions of the reference vs
    the window ending at ``now`` (read as :func:`run` reads it). A monitor without results,
    an empty window or a reference that cannot be read still gives a report, which says so."""
    from shipyard.monitoring.report import history_from_results, render_report

    if not 1 <= results <= MAX_REPORT_RESULTS:
        raise InvalidArgument(
            f"results must be between 1 and {MAX_REPORT_RESULTS}, not {results}", {"field": "results"}
        )
    now = (now or datetime.now(UTC)).astimezone(UTC)
    monitor, page = list_results(session, project, name, page_token=None, page_size=results)
    spec = MonitorSpec.model_validate(monitor.spec)
    history = history_from_results(page.items)
    notes: list[str] = []
    if not page.items:
        notes.append(
            f"Monitor '{name}' has no results yet: run it (shipyard monitor run {name}) or give it a schedule."
        )
    compared: Comparison | None = None
    rows = 0
    try:
        frame, _ = _read_window(store, project, spec, now)
        rows = len(frame)
        if rows:
            compared = _compare(session, project, spec, frame)
        else:
            notes.append(f"No distributions: {_no_data(spec)}.")
    except ShipyardError as exc:
        notes.append(f"No distributions: {exc.message}")
    latest = page.items[0] if page.items else None
    summary: dict[str, Any] = {
        "monitor": name,
        "project": project.name,
        "endpoint": monitor.endpoint,
        "window": spec.window,
        "reference": compared.origin if compared else None,
        "current window": f"{rows} predictions up to {now.isoformat(timespec='seconds')}",
        "results shown": f"{len(page.items)} (newest {results} at most)",
    }
    if latest is not None:
        summary |= {
            "latest result": f"{latest.status} at {latest.window_end.isoformat(timespec='seconds')}",
            "latest message": latest.message,
        }
    return render_report(
        endpoint=monitor.endpoint,
        title=f"Monitor {name} (endpoint {monitor.endpoint})",
        summary=summary,
        notes=notes,
        reference=compared.reference if compared else None,
        current=compared.current if compared else None,
        columns=compared.columns if compared else None,
        drift=history.features or None,
        drift_history=history.drift_share,
        drift_threshold=spec.drift.drift_share if spec.drift is not None else None,
        performance_history=history.performance,
        slices=history.slices,
        generated_at=now,
    )


__all__ = [
    "create",
    "delete",
    "get",
    "list_monitors",
    "list_results",
    "monitor_out",
    "next_run",
    "report",
    "result_out",
    "run",
    "run_due",
]
