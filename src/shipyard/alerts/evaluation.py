"""One evaluation pass over a project (what ``shipyard alerts evaluate`` runs from cron):

1. scrape every metrics target the project's metric rules and SLOs name, once each, and
   store a counter sample (no transaction open while scraping);
2. in one unit of work: read every rule's observations (:mod:`shipyard.alerts.sources`)
   and every SLO's burn rates (:mod:`shipyard.alerts.burn`), advance each alert
   instance's state machine (:func:`shipyard.alerts.states.step`), and for each firing or
   resolved transition queue one notification per receiver (and record an event);
3. deliver what is queued (:func:`shipyard.alerts.notify.deliver_pending`).

An instance seen before but absent from this pass's observations is evaluated with no
data, so it resolves. A source that cannot be read (a scrape error, a latency threshold
that is not a bucket bound) is reported in ``errors`` and its instances keep their state.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.alerts import notify, sources, specs
from shipyard.alerts.burn import BurnWindow, Sample, burn_readings
from shipyard.alerts.payloads import AlertEvent
from shipyard.alerts.schemas import EvaluationOut, MetricsTarget, RetryPolicy, RuleSpec, SLOSpec
from shipyard.alerts.scrape import ScrapeError, scrape
from shipyard.alerts.secrets import SecretBox, redact_url
from shipyard.alerts.states import AlertState, AlertStatus, Condition, Observation, fingerprint, step
from shipyard.alerts.tables import Alert, AlertReceiver, AlertRule, ServiceLevelObjective
from shipyard.events import service as events
from shipyard.events.context import Actor
from shipyard.projects import service as projects
from shipyard.projects.tables import Project
from shipyard.store.base import utcnow
from shipyard.store.engine import Database

SAMPLE_MARGIN = timedelta(hours=1)


@dataclass(frozen=True)
class Owner:
    """What an alert instance belongs to: a rule, or one burn window of an SLO."""

    key: str  # fingerprint namespace
    name: str
    rule_id: str | None
    slo_id: str | None
    severity: str
    condition: Condition
    summary: str
    source: str
    labels: dict[str, str]
    receivers: list[str]
    details: dict[str, object] = field(default_factory=dict)


@dataclass
class Pass:
    session: Session
    actor: Actor
    project: Project
    now: datetime
    receivers: dict[str, AlertReceiver]
    evaluated: int = 0
    firing: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _state(alert: Alert | None) -> AlertState:
    if alert is None:
        return AlertState()
    return AlertState(
        status=AlertStatus(alert.status),
        active_since=alert.active_since,
        fired_at=alert.fired_at,
        resolved_at=alert.resolved_at,
        notified_at=alert.notified_at,
        value=alert.value,
        observed_at=alert.observed_at,
    )


def _advance(run: Pass, owner: Owner, existing: dict[str, Alert], observations: Sequence[Observation]) -> None:
    seen: dict[str, Observation | None] = {}
    for observation in observations:
        seen[fingerprint(owner.key, {**observation.labels, **owner.labels})] = observation
    for fp in existing:
        seen.setdefault(fp, None)
    for fp, obs in seen.items():
        alert = existing.get(fp)
        if alert is None and obs is None:
            continue
        labels = {**obs.labels, **owner.labels} if obs is not None else dict(alert.labels if alert else {})
        result = step(owner.condition, _state(alert), obs, run.now)
        run.evaluated += 1
        if alert is None:
            if result.state.status == AlertStatus.INACTIVE:
                continue  # nothing to remember
            alert = Alert(
                project_id=run.project.id,
                rule_id=owner.rule_id,
                slo_id=owner.slo_id,
                fingerprint=fp,
                name=owner.name,
                labels=labels,
                details={},
            )
            run.session.add(alert)
        s = result.state
        alert.severity, alert.threshold, alert.summary = owner.severity, owner.condition.threshold, owner.summary
        alert.status, alert.value, alert.observed_at = s.status.value, s.value, s.observed_at
        alert.active_since, alert.fired_at, alert.resolved_at = s.active_since, s.fired_at, s.resolved_at
        alert.notified_at, alert.updated_at, alert.details = s.notified_at, run.now, dict(owner.details)
        if obs is not None and obs.value != obs.value:  # NaN: store as no value
            alert.value = None
        if s.status == AlertStatus.FIRING:
            run.firing.append(fp)
        if result.notify is not None:
            run.session.flush()
            _notify(run, owner, alert, result.notify)


def _notify(run: Pass, owner: Owner, alert: Alert, kind: str) -> None:
    event = AlertEvent(
        kind=kind,
        project=run.project.name,
        name=owner.name,
        fingerprint=alert.fingerprint,
        severity=owner.severity,
        labels=dict(alert.labels),
        value=alert.value,
        op=owner.condition.op,
        threshold=owner.condition.threshold,
        summary=owner.summary,
        source=owner.source,
        fired_at=alert.fired_at,
        resolved_at=alert.resolved_at,
        details=dict(alert.details),
    )
    for name in owner.receivers:
        receiver = run.receivers.get(name)
        if receiver is None:
            run.errors.append(f"{owner.source}: receiver '{name}' does not exist")
            continue
        notify.enqueue(run.session, run.project.id, alert.id, receiver, event)
    events.record(
        run.session,
        run.actor,
        f"alert.{kind}",
        project_id=run.project.id,
        object_type="alert",
        object_id=alert.fingerprint,
        details={"name": owner.name, "labels": dict(alert.labels), "value": alert.value},
    )


def _existing(run: Pass, *, rule_id: str | None = None, slo_id: str | None = None) -> list[Alert]:
    column = Alert.rule_id if rule_id is not None else Alert.slo_id
    return list(run.session.scalars(select(Alert).where(column == (rule_id or slo_id))))


def _rule(run: Pass, row: AlertRule, samples: dict[str, list[Sample]]) -> None:
    spec = RuleSpec.model_validate(row.spec)
    src = spec.source
    if src.kind == "series":
        observations = sources.series_observations(run.session, run.project, src, run.now)
    elif src.kind == "monitor":
        observations = sources.monitor_observations(run.session, run.project, src, run.now)
    else:
        key = sources.target_key(src.target)
        if key not in samples:
            return  # the scrape failed: reported, states kept
        observations = sources.metric_observations(src, samples[key], run.now)
    owner = Owner(
        key=f"rule:{row.id}",
        name=spec.name,
        rule_id=row.id,
        slo_id=None,
        severity=spec.severity,
        condition=Condition(spec.op, spec.threshold, spec.for_, spec.stale_after, spec.repeat_interval),
        summary=spec.summary or f"{spec.name}: {src.kind} {_describe(spec)} {spec.op} {spec.threshold:g}",
        source=f"rule {spec.name}",
        labels=dict(spec.labels),
        receivers=list(spec.receivers),
    )
    existing = {a.fingerprint: a for a in _existing(run, rule_id=row.id)}
    _advance(run, owner, existing, observations)


def _describe(spec: RuleSpec) -> str:
    src = spec.source
    if src.kind == "series":
        return src.series
    if src.kind == "monitor":
        return f"{src.monitor}.{src.field}"
    return f"{src.expr} over {src.window:g}s"


def burn_windows(spec: SLOSpec) -> list[BurnWindow]:
    return [BurnWindow(w.name, w.severity, w.factor, w.long, w.short) for w in spec.burn_windows]


def _slo(run: Pass, row: ServiceLevelObjective, samples: dict[str, list[Sample]]) -> None:
    spec = SLOSpec.model_validate(row.spec)
    key = sources.target_key(spec.target)
    if key not in samples:
        return
    try:
        readings = burn_readings(
            samples[key], run.now, spec.objective, burn_windows(spec), latency_threshold_s=spec.latency_threshold
        )
    except ValueError as exc:
        run.errors.append(f"slo {spec.name}: {exc}")
        return
    existing = {a.fingerprint: a for a in _existing(run, slo_id=row.id)}
    for reading in readings:
        w = reading.window
        labels = {"slo": spec.name, "window": w.name, "endpoint": spec.endpoint, **spec.labels}
        owner = Owner(
            key=f"slo:{row.id}:{w.name}",
            name=f"{spec.name}:{w.name}",
            rule_id=None,
            slo_id=row.id,
            severity=w.severity,
            condition=Condition(">=", w.factor),
            summary=(
                f"{spec.endpoint}: {spec.kind} SLO {spec.objective:.2%} burning its error budget at "
                f"≥{w.factor:g}x over {w.long_s / 3600:g}h and {w.short_s / 60:g}m"
            ),
            source=f"slo {spec.name} window {w.name}",
            labels=labels,
            receivers=list(spec.receivers),
            details={"long_burn": reading.long_burn, "short_burn": reading.short_burn},
        )
        fp = fingerprint(owner.key, labels)
        mine = {fp: existing[fp]} if fp in existing else {}
        _advance(run, owner, mine, [Observation(run.now, reading.value, {})])


def targets_of(
    rules: Sequence[AlertRule], slos: Sequence[ServiceLevelObjective]
) -> dict[str, tuple[MetricsTarget, float]]:
    """Each metrics target by key, with the longest window any user reads of it."""
    found: dict[str, tuple[MetricsTarget, float]] = {}

    def add(target: MetricsTarget, window: float) -> None:
        key = sources.target_key(target)
        found[key] = (target, max(window, found.get(key, (target, 0.0))[1]))

    for rule in rules:
        spec = RuleSpec.model_validate(rule.spec)
        if spec.source.kind == "metric":
            add(spec.source.target, spec.source.window)
    for slo in slos:
        s = SLOSpec.model_validate(slo.spec)
        add(s.target, max([s.window, *(w.long for w in s.burn_windows)]))
    return found


def evaluate(
    db: Database,
    box: SecretBox,
    actor: Actor,
    project_name: str,
    *,
    now: datetime | None = None,
    deliver: bool = True,
    http: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    retry: RetryPolicy | None = None,
) -> EvaluationOut:
    """One pass (see the module docstring). ``now`` defaults to the clock; ``http``,
    ``sleep``, ``rng`` and ``retry`` are for tests."""
    now = now or utcnow()
    with db.session(readonly=True) as session:
        project = projects.get_by_name(session, project_name)
        targets = targets_of(
            specs.all_of(session, AlertRule, project), specs.all_of(session, ServiceLevelObjective, project)
        )
    scraped: dict[str, Sample] = {}
    errors: list[str] = []
    own = http is None
    client = http or httpx.Client(follow_redirects=False)
    try:
        for key, (target, _) in targets.items():
            try:
                scraped[key] = scrape(client, target, now)
            except ScrapeError as exc:
                errors.append(f"scrape {redact_url(target.url)}: {exc}")
    finally:
        if own:
            client.close()
    with db.session() as session:
        project = projects.get_by_name(session, project_name)
        samples: dict[str, list[Sample]] = {}
        sources.prune_observations(session, project, now)
        for key, sample in scraped.items():
            sources.store_sample(session, project, key, sample)
        session.flush()
        for key in scraped:
            since = now - timedelta(seconds=targets[key][1]) - SAMPLE_MARGIN
            sources.prune_samples(session, project, key, since)
            samples[key] = sources.load_samples(session, project, key, since)
        receivers = {
            r.name: r for r in session.scalars(select(AlertReceiver).where(AlertReceiver.project_id == project.id))
        }
        run = Pass(session, actor, project, now, receivers, errors=errors)
        for rule in specs.all_of(session, AlertRule, project):
            _rule(run, rule, samples)
        for slo in specs.all_of(session, ServiceLevelObjective, project):
            _slo(run, slo, samples)
        project_id = project.id
    delivered = (
        notify.deliver_pending(db, box, project_id, http=http, sleep=sleep, rng=rng, retry=retry) if deliver else []
    )
    return EvaluationOut(
        at=now, evaluated=run.evaluated, firing=sorted(run.firing), notifications=delivered, errors=run.errors
    )


__all__ = ["burn_windows", "evaluate", "targets_of"]
