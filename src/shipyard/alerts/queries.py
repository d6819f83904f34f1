"""Reading what alerting decided: alert instances, delivery attempts, an SLO's status."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.alerts import sources, specs
from shipyard.alerts.burn import availability_counts, burn_readings, latency_counts
from shipyard.alerts.evaluation import burn_windows
from shipyard.alerts.schemas import AlertOut, BurnOut, DeliveryOut, SLOSpec, SLOStatus
from shipyard.alerts.tables import (
    Alert,
    AlertDelivery,
    AlertNotification,
    AlertReceiver,
    AlertRule,
    ServiceLevelObjective,
)
from shipyard.errors import InvalidArgument
from shipyard.projects.tables import Project
from shipyard.store.pagination import Page, paginate

STATUSES = ("pending", "firing", "resolved", "inactive")


def list_alerts(
    session: Session, project: Project, *, status: str | None, page_token: str | None, page_size: int
) -> Page[AlertOut]:
    """Alert instances, most recently changed first; ``status`` filters (firing, …)."""
    stmt = select(Alert).where(Alert.project_id == project.id)
    if status:
        if status not in STATUSES:
            raise InvalidArgument(f"status must be one of {', '.join(STATUSES)}, not '{status}'", {"field": "status"})
        stmt = stmt.where(Alert.status == status)
    page: Page[Alert] = paginate(
        session,
        stmt,
        [Alert.updated_at, Alert.id],
        scope=f"alerts:{project.id}:{status}",
        page_token=page_token,
        page_size=page_size,
        key_of=lambda a: [a.updated_at, a.id],
        descending=True,
    )
    rules = {r.id: r.name for r in specs.all_of(session, AlertRule, project)}
    slos = {s.id: s.name for s in specs.all_of(session, ServiceLevelObjective, project)}
    return Page(
        items=[
            AlertOut(
                fingerprint=a.fingerprint,
                name=a.name,
                rule=rules.get(a.rule_id or ""),
                slo=slos.get(a.slo_id or ""),
                labels=dict(a.labels),
                severity=a.severity,
                status=a.status,
                value=a.value,
                threshold=a.threshold,
                summary=a.summary,
                active_since=a.active_since,
                fired_at=a.fired_at,
                resolved_at=a.resolved_at,
                observed_at=a.observed_at,
                updated_at=a.updated_at,
                details=dict(a.details),
            )
            for a in page.items
        ],
        next_page_token=page.next_page_token,
    )


def list_deliveries(
    session: Session, project: Project, *, receiver: str | None, page_token: str | None, page_size: int
) -> Page[DeliveryOut]:
    """Every delivery attempt, newest first; ``receiver`` filters by receiver name."""
    stmt = (
        select(AlertDelivery, AlertNotification, AlertReceiver)
        .join(AlertNotification, AlertNotification.id == AlertDelivery.notification_id)
        .join(AlertReceiver, AlertReceiver.id == AlertNotification.receiver_id)
        .where(AlertDelivery.project_id == project.id)
    )
    if receiver:
        stmt = stmt.where(AlertReceiver.name == receiver)
    # Keyset pagination on the id (paginate() pages one entity; here three are joined).
    if page_token and not page_token.isdigit():
        raise InvalidArgument("page_token is not a token this list returned", {"field": "page_token"})
    if page_token:
        stmt = stmt.where(AlertDelivery.id < int(page_token))
    found = list(session.execute(stmt.order_by(AlertDelivery.id.desc()).limit(page_size + 1)).all())
    more = len(found) > page_size
    found = found[:page_size]
    items = [
        DeliveryOut(
            id=d.id,
            notification_id=n.id,
            receiver=r.name,
            alert=n.alert_name,
            kind=n.kind,
            attempt=d.attempt,
            outcome=d.outcome,
            http_status=d.http_status,
            error=d.error,
            duration_ms=d.duration_ms,
            at=d.at,
        )
        for d, n, r in found
    ]
    return Page(items=items, next_page_token=str(items[-1].id) if more and items else None)


def slo_status(session: Session, project: Project, name: str, now: datetime) -> SLOStatus:
    """The SLO over its window and each burn window, from the samples stored so far."""
    spec = SLOSpec.model_validate(specs.get(session, ServiceLevelObjective, project, name).spec)
    samples = sources.load_samples(
        session, project, sources.target_key(spec.target), now - timedelta(seconds=spec.window)
    )
    try:
        if spec.latency_threshold is None:
            counts = availability_counts(samples, now, spec.window)
        else:
            counts = latency_counts(samples, now, spec.window, spec.latency_threshold)
        readings = burn_readings(
            samples, now, spec.objective, burn_windows(spec), latency_threshold_s=spec.latency_threshold
        )
    except ValueError as exc:
        return SLOStatus(
            name=name,
            objective=spec.objective,
            window_s=spec.window,
            total=0,
            bad=0,
            error_ratio=None,
            budget_remaining=None,
            samples=len(samples),
            burns=[],
            error=str(exc),
        )
    allowed = counts.total * (1 - spec.objective)
    return SLOStatus(
        name=name,
        objective=spec.objective,
        window_s=spec.window,
        total=counts.total,
        bad=counts.bad,
        error_ratio=counts.ratio,
        budget_remaining=(1 - counts.bad / allowed) if allowed > 0 else None,
        samples=len(samples),
        burns=[
            BurnOut(
                window=r.window.name,
                severity=r.window.severity,
                factor=r.window.factor,
                long_burn=r.long_burn,
                short_burn=r.short_burn,
                burning=r.burning,
            )
            for r in readings
        ],
    )


__all__ = ["STATUSES", "list_alerts", "list_deliveries", "slo_status"]
