"""Monitors: create, read, delete, run one now, run every one whose schedule is due.

A run reads the monitor's window of the endpoint's prediction log (joined with feedback) through
:class:`~shipyard.monitoring.logstore.LogStore`, reads the reference (a registered dataset, or
the training dataset recorded on the model version's run), and stores one ``monitor_results``
row: drift per column and the dataset's drift share
(:func:`~shipyard.monitoring.drift.compare_profiles`), data quality
(:func:`~shipyard.monitoring.quality.check_quality_profile`) and, with labels, performance
(:func:`~shipyard.monitoring.performance.compute_performance`).

A run streams, so its memory does not grow with its window (docs/monitoring.md, "How a run
reads its data"): counts are SQL; the window's features and the reference are read as Arrow
record batches of ``monitoring.batch_rows`` rows into bounded accumulators (a numeric sketch of
``monitoring.sketch_capacity`` points per column — exact up to that many rows or distinct
values —, category counts, the quality facts); DuckDB counts duplicates and joins feedback
under ``monitoring.query_memory_mb``; performance reads the labelled rows only, with the
columns it needs, so its memory is proportional to the labelled rows of the window.

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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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


def _no_data(spec: MonitorSpec) -> str:
    return f"no prediction of endpoint '{spec.endpoint}' in the window ({spec.window})"


def _over_window(
    store: LogStore, project: Project, spec: MonitorSpec, now: datetime, work: Callable[[Any, Any], None]
) -> None:
    """``work(connection, window)`` over the monitor's window ending at ``now``, DuckDB held to
    ``store.query_memory_mb`` (re-run from the start if a log file vanished meanwhile)."""
    from shipyard.monitoring._window import LogWindow, bounded

    window = parse_window(spec.window)

    def run(con: Any) -> None:
        with bounded(con, store.query_memory_mb):
            work(con, LogWindow(con, project.name, spec.endpoint, window, now, store.batch_rows))

    since = (now - window).date() if isinstance(window, timedelta) else None
    store.run(run, project=project.name, endpoint=spec.endpoint, since=since)


def _model_version(spec: MonitorSpec, window: Any) -> tuple[str, int]:
    """The model version a window is about: the reference's, else the one that answered most of it."""
    ref = spec.reference
    if ref.model is not None and ref.version is not None:
        return ref.model, ref.version
    name, raw = window.top_model_version()
    try:
        return str(name), int(raw)
    except ValueError as exc:
        raise InvalidArgument(
            f"the window's model version {name}/{raw} is not a registered version; "
            "set reference.model/version or use a dataset reference",
            {"field": "reference"},
        ) from exc


def _offline_metrics(session: Session, project: Project, spec: MonitorSpec, window: Any) -> dict[str, Any] | None:
    """The newest offline evaluation recorded on the window's model version: its metrics and
    where they come from; None when there is none (or no registered version to look at)."""
    try:
        name, number = _model_version(spec, window)
        recorded = gates.list_evaluations(session, project, name, number)
    except (InvalidArgument, NotFound):
        return None
    if not recorded:
        return None
    newest = recorded[0]
    metrics = {k: e.value for k, e in newest.result.overall.metrics.items() if e.value is not None}
    return {"model": name, "version": number, "evaluation": newest.id, "metrics": metrics}


def _reference(session: Session, project: Project, spec: MonitorSpec, window: Any, store: LogStore) -> tuple[Any, str]:
    """The reference file (:class:`~shipyard.monitoring._window.ReferenceFile`) and a
    description of where it came from."""
    from shipyard.monitoring._window import ReferenceFile

    ref = spec.reference
    if ref.kind == "dataset":
        assert ref.dataset is not None
        dataset = inputs.find_dataset(session, project, ref.dataset, ref.digest)
        source = ReferenceFile(dataset.source_uri, f"dataset '{dataset.name}'", store.batch_rows)
        return source, f"dataset {dataset.name}@{dataset.digest[:12]}"
    name, number = _model_version(spec, window)
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
    source = ReferenceFile(dataset.source_uri, f"training dataset '{dataset.name}'", store.batch_rows)
    return source, f"training data of {name}/{number}"


def _compared_columns(spec: MonitorSpec, reference: list[str], current: list[str]) -> list[str]:
    if spec.columns is not None:
        for name in spec.columns:
            for side, names in (("reference", reference), ("window", current)):
                if name not in names:
                    raise InvalidArgument(f"column {name!r} is not in the {side}", {"field": "columns"})
        return list(spec.columns)
    return [c for c in current if c in set(reference)]


@dataclass(frozen=True)
class Comparison:
    """A window set against the monitor's reference: the reference file, where it came from,
    the window's compared columns as ``(log column, name)`` in the log's order (features under
    their own names) and the compared columns (the spec's ``columns``, else those the two share)."""

    reference: Any
    origin: str  # where the reference came from, e.g. "training data of churn/3"
    current: list[tuple[str, str]]
    columns: list[str]


def _compare(session: Session, project: Project, spec: MonitorSpec, window: Any, store: LogStore) -> Comparison:
    reference, origin = _reference(session, project, spec, window, store)
    features = window.features()
    columns = _compared_columns(spec, reference.names, [name for _, name in features])
    if not columns:
        raise InvalidArgument(
            f"the window and the reference ({origin}) share no column to compare", {"field": "columns"}
        )
    wanted = set(columns)
    return Comparison(reference, origin, [(s, n) for s, n in features if n in wanted], columns)


def _performance_columns(spec: Any, names: list[str]) -> list[str]:
    """The log columns performance reads: the label, the prediction, the scores, the slices."""
    from shipyard.monitoring.performance import resolve_column

    wanted = ["label", "label_value", spec.prediction_column, spec.score_column, "ts"]
    wanted += [resolve_column(names, name) for name in spec.slices]
    return list(dict.fromkeys(c for c in wanted if c is not None and c in names))


def _evaluate(
    con: Any, session: Session, project: Project, spec: MonitorSpec, window: Any, store: LogStore, result: MonitorResult
) -> None:
    # The computations need the monitoring extra (numpy, pandas, scipy, pyarrow, duckdb);
    # imported here so the control plane, which imports this module, starts without it.
    from shipyard.monitoring._window import as_pandas_read, quality_as_pandas_read
    from shipyard.monitoring.drift import compare_profiles
    from shipyard.monitoring.errors import MonitoringInputError
    from shipyard.monitoring.performance import compute_performance
    from shipyard.monitoring.profiles import Profiler
    from shipyard.monitoring.quality import QualityProfiler, check_quality_profile, infer_quality_spec_from_profile

    compared = _compare(session, project, spec, window, store)
    reference, origin, columns = compared.reference, compared.origin, compared.columns
    capacity = store.sketch_capacity
    learn = spec.quality and spec.quality_spec is None
    # Drift compares the drift spec's own columns when it names them, quality the compared ones.
    drifting = list(spec.drift.columns) if spec.drift is not None and spec.drift.columns is not None else columns
    features = window.features()
    for name in drifting:
        for side, names in (("reference", reference.names), ("current", [n for _, n in features])):
            if name not in names:
                raise MonitoringInputError(f"column {name!r} is not in the {side} data", name, window=side)
    read = list(dict.fromkeys([*columns, *drifting]))

    def reference_accumulators() -> list[Any]:
        out: list[Any] = [Profiler(drifting, capacity=capacity)] if spec.drift is not None else []
        return [*out, QualityProfiler(columns=columns)] if learn else out

    reference_rows, accumulators = reference.scan(read, reference_accumulators)
    result.reference_rows = reference_rows
    if not reference_rows:
        raise InvalidArgument(f"the reference ({origin}) has no rows", {"field": "reference"})
    ref_profile = as_pandas_read(reference, accumulators[0].result()) if spec.drift is not None else None
    quality_spec = spec.quality_spec
    if learn:
        duplicates = reference.duplicates(con, reference_rows, columns)
        learned = quality_as_pandas_read(reference, accumulators[-1].result(duplicates))
        quality_spec = infer_quality_spec_from_profile(learned)

    # One pass over the window feeds the drift profiles and the quality facts.
    cur_profiler = Profiler(drifting, capacity=capacity) if ref_profile is not None else None
    cur_quality = QualityProfiler(quality_spec) if quality_spec is not None and spec.quality else None
    compared_only = [name for _, name in compared.current] if len(read) > len(columns) else None
    if cur_profiler is not None or cur_quality is not None:
        for batch in window.batches([(s, n) for s, n in features if n in set(read)]):
            if cur_profiler is not None:
                cur_profiler.add(batch)
            if cur_quality is not None:
                cur_quality.add(batch if compared_only is None else batch.select(compared_only))

    warnings: list[str] = []
    if spec.drift is not None and cur_profiler is not None and ref_profile is not None:
        drift_spec = (
            spec.drift if spec.drift.columns is not None else spec.drift.model_copy(update={"columns": columns})
        )
        report = compare_profiles(ref_profile, cur_profiler.result(), drift_spec)
        result.drift_share = report.share_of_drifted_columns
        result.dataset_drift = report.dataset_drift
        result.drifted_columns = report.drifted_columns
        result.features = [c.model_dump(mode="json") for c in report.columns]
        if report.drifted_columns:
            warnings.append(f"drift in {', '.join(report.drifted_columns)}")
    if cur_quality is not None and quality_spec is not None:
        duplicates = window.duplicates(compared.current) if quality_spec.check_duplicates else None
        quality = check_quality_profile(cur_quality.result(duplicates), quality_spec)
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
        labelled = window.labelled_frame(_performance_columns(spec.performance, window.names))
        offline = _offline_metrics(session, project, spec, window)
        performance = compute_performance(labelled, spec.performance, offline)
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

    def work(con: Any, window: Any) -> None:
        result.window_start = window.start
        result.n_rows, result.n_labeled = window.rows, window.labelled
        if not window.rows:
            result.status = "no_data"
            result.message = _no_data(spec)
        else:
            _evaluate(con, session, project, spec, window, store, result)

    try:
        _over_window(store, project, spec, now, work)
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
    the window ending at ``now`` (the window :func:`run` would read), plotted from a random
    sample of at most ``store.sample_rows`` rows of each side. A monitor without results, an
    empty window or a reference that cannot be read still gives a report, which says so."""
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
    samples: tuple[Comparison, Any, Any] | None = None
    rows = 0

    def work(con: Any, window: Any) -> None:
        nonlocal rows, samples
        rows = window.rows
        if not rows:
            return
        compared = _compare(session, project, spec, window, store)
        names = [name for _, name in compared.current]
        reference = compared.reference.sample(con, names, store.sample_rows)
        current = window.sample(compared.current, store.sample_rows)
        samples = (compared, reference, current)

    try:
        _over_window(store, project, spec, now, work)
    except ShipyardError as exc:
        notes.append(f"No distributions: {exc.message}")
    else:
        if not rows:
            notes.append(f"No distributions: {_no_data(spec)}.")
    compared = samples[0] if samples is not None else None
    latest = page.items[0] if page.items else None
    summary: dict[str, Any] = {
        "monitor": name,
        "project": project.name,
        "endpoint": monitor.endpoint,
        "window": spec.window,
        "reference": compared.origin if compared else None,
        "current window": f"{rows} predictions up to {now.isoformat(timespec='seconds')}",
        "distributions": f"at most {store.sample_rows:,} rows of the window and of the reference "
        "(a random sample of a larger side)",
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
        reference=samples[1] if samples is not None else None,
        current=samples[2] if samples is not None else None,
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
