"""Where a rule's observations come from. Each source gives the latest
:class:`~shipyard.alerts.states.Observation` of every series it has (one alert instance per
label set):

* ``series``: the latest value pushed per label set (``alert_observations``);
* ``metric``: a serving metric over a window of scraped counter samples
  (``alert_metric_samples``, see :mod:`shipyard.alerts.scrape`);
* ``monitor``: a field of a monitor's latest result (read through
  :func:`shipyard.monitoring.service.list_results`), as of the end of the window it covers.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from shipyard.alerts.burn import Sample, availability_counts, bucket_increases, histogram_quantile, window_slice
from shipyard.alerts.schemas import MetricSource, MetricsTarget, MonitorSource, SeriesSource
from shipyard.alerts.states import Observation
from shipyard.alerts.tables import AlertObservation, MetricSample
from shipyard.errors import InvalidArgument, NotFound
from shipyard.monitoring import service as monitors
from shipyard.monitoring.tables import MonitorResult
from shipyard.projects.tables import Project

OBSERVATION_RETENTION = timedelta(days=31)
MONITOR_LOOKBACK = 50


# -- pushed series ---------------------------------------------------------------------
def store_observations(
    session: Session, project: Project, items: Sequence[tuple[str, datetime, float, Mapping[str, str]]]
) -> int:
    session.add_all(
        AlertObservation(project_id=project.id, series=series, at=at, value=value, labels=dict(labels))
        for series, at, value, labels in items
    )
    session.flush()
    return len(items)


def prune_observations(session: Session, project: Project, now: datetime) -> None:
    session.execute(
        delete(AlertObservation).where(
            AlertObservation.project_id == project.id, AlertObservation.at < now - OBSERVATION_RETENTION
        )
    )


def series_observations(session: Session, project: Project, source: SeriesSource, now: datetime) -> list[Observation]:
    rows = session.scalars(
        select(AlertObservation)
        .where(
            AlertObservation.project_id == project.id,
            AlertObservation.series == source.series,
            AlertObservation.at <= now,
            AlertObservation.at > now - OBSERVATION_RETENTION,
        )
        .order_by(AlertObservation.at, AlertObservation.id)
    )
    latest: dict[str, Observation] = {}
    for row in rows:
        latest[json.dumps(sorted(row.labels.items()))] = Observation(row.at, row.value, dict(row.labels))
    return list(latest.values())


# -- scraped metrics -------------------------------------------------------------------
def target_key(target: MetricsTarget) -> str:
    canonical = target.model_dump(mode="json", exclude={"timeout_s"})
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()[:32]


def store_sample(session: Session, project: Project, key: str, sample: Sample) -> None:
    buckets = {("+Inf" if math.isinf(le) else repr(le)): count for le, count in sample.buckets.items()}
    session.add(
        MetricSample(
            project_id=project.id, target=key, at=sample.at, total=sample.total, errors=sample.errors, buckets=buckets
        )
    )


def load_samples(session: Session, project: Project, key: str, since: datetime) -> list[Sample]:
    """The target's samples from the last one at or before ``since`` on, oldest first."""
    base = session.scalar(
        select(MetricSample.at)
        .where(MetricSample.project_id == project.id, MetricSample.target == key, MetricSample.at <= since)
        .order_by(MetricSample.at.desc())
        .limit(1)
    )
    rows = session.scalars(
        select(MetricSample)
        .where(MetricSample.project_id == project.id, MetricSample.target == key, MetricSample.at >= (base or since))
        .order_by(MetricSample.at, MetricSample.id)
    )
    return [Sample(r.at, r.total, r.errors, {float(le): c for le, c in r.buckets.items()}) for r in rows]


def prune_samples(session: Session, project: Project, key: str, keep_after: datetime) -> None:
    """Drop samples no window reaches any more (keeping the one a window starts from)."""
    base = session.scalar(
        select(MetricSample.at)
        .where(MetricSample.project_id == project.id, MetricSample.target == key, MetricSample.at <= keep_after)
        .order_by(MetricSample.at.desc())
        .limit(1)
    )
    if base is not None:
        session.execute(
            delete(MetricSample).where(
                MetricSample.project_id == project.id, MetricSample.target == key, MetricSample.at < base
            )
        )


def metric_value(source: MetricSource, samples: Sequence[Sample], now: datetime) -> float | None:
    """The metric at ``now``, or None without enough samples or traffic in the window."""
    if source.expr == "error_ratio":
        return availability_counts(samples, now, source.window).ratio
    chosen = window_slice(samples, now, source.window)
    if len(chosen) < 2:
        return None
    if source.expr == "request_rate":
        counts = availability_counts(samples, now, source.window)
        return counts.total / counts.seconds if counts.seconds > 0 else None
    return histogram_quantile(source.quantile, bucket_increases(chosen))


def metric_observations(source: MetricSource, samples: Sequence[Sample], now: datetime) -> list[Observation]:
    value = metric_value(source, samples, now)
    return [] if value is None else [Observation(now, value, dict(source.target.labels))]


# -- monitor results -------------------------------------------------------------------
_FEATURE = re.compile(r"^feature_(drift|drifted)\[(\*|[^\]]+)\]$")
_SLICE = re.compile(r"^slice_performance\[([^\]]+)\]\.(\w+)$")
_COLUMNS = {"drift_share", "dataset_drift", "quality_passed", "n_rows", "n_labeled", "reference_rows", "duration_ms"}


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    return None


def check_monitor_field(field: str) -> None:
    """Refuse a field no monitor result can have (at rule creation)."""
    root = field.split(".", 1)[0]
    if field in _COLUMNS or _FEATURE.match(field) or _SLICE.match(field):
        return
    if root in ("performance", "quality") and "." in field:
        return
    raise InvalidArgument(
        f"source.field '{field}' is not a monitor result field: use one of {', '.join(sorted(_COLUMNS))}, "
        "feature_drift[COLUMN], feature_drifted[COLUMN] (or [*] for every column), performance.METRIC, "
        "slice_performance[COLUMN].METRIC, quality.PATH",
        {"field": "source.field"},
    )


def _walk(document: Any, path: str) -> float | None:
    for part in path.split("."):
        if not isinstance(document, dict) or part not in document:
            return None
        document = document[part]
    return _number(document)


def result_observations(result: MonitorResult, field: str) -> list[Observation]:
    """``field`` of one monitor result, as observations at the end of its window."""
    at = result.window_end
    labels = {"monitor_endpoint": result.endpoint}
    feature = _FEATURE.match(field)
    if feature is not None:
        key = "statistic" if feature.group(1) == "drift" else "drifted"
        wanted = feature.group(2)
        found = []
        for column in result.features or []:
            name = str(column.get("column", ""))
            value = _number(column.get(key))
            if value is not None and wanted in ("*", name):
                found.append(Observation(at, value, {**labels, "feature": name} if wanted == "*" else labels))
        return found
    slices = _SLICE.match(field)
    if slices is not None:
        slice_column, metric = slices.groups()
        found = []
        for item in (result.performance or {}).get("slices") or []:
            value = _number((item.get("metrics") or {}).get(metric))
            if item.get("column") == slice_column and value is not None:
                found.append(Observation(at, value, {**labels, "slice": f"{slice_column}={item.get('value')}"}))
        return found
    if field in _COLUMNS:
        value = _number(getattr(result, field))
    elif field.startswith("performance."):  # performance.accuracy: a metric of the whole window
        path = field.split(".", 1)[1]
        value = _walk(result.performance, path)
        value = _walk((result.performance or {}).get("metrics"), path) if value is None else value
    else:
        value = _walk(result.quality, field.split(".", 1)[1])
    return [] if value is None else [Observation(at, value, labels)]


def monitor_observations(session: Session, project: Project, source: MonitorSource, now: datetime) -> list[Observation]:
    """The field of the monitor's latest result whose window ended by ``now`` (through the
    monitoring service; a missing monitor, an ``error`` run or a field the result lacks give
    no observation: no data). Looks through the newest :data:`MONITOR_LOOKBACK` results."""
    try:
        _, page = monitors.list_results(session, project, source.monitor, page_token=None, page_size=MONITOR_LOOKBACK)
    except NotFound:
        return []
    usable = [r for r in page.items if r.window_end <= now and r.status != "error"]
    if not usable:
        return []
    latest = max(usable, key=lambda r: (r.window_end, r.id))
    return result_observations(latest, source.field)


__all__ = [
    "MONITOR_LOOKBACK",
    "OBSERVATION_RETENTION",
    "check_monitor_field",
    "load_samples",
    "metric_observations",
    "metric_value",
    "monitor_observations",
    "prune_observations",
    "prune_samples",
    "result_observations",
    "series_observations",
    "store_observations",
    "store_sample",
    "target_key",
]
