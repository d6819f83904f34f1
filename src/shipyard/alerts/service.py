"""What the API, the SDK and the CLI call: validated writes of rules and SLOs, pushed
observations, a receiver's test message, and the secrets key of a deployment."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from datetime import datetime

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.alerts import notify, receivers, sources, specs
from shipyard.alerts.payloads import AlertEvent
from shipyard.alerts.schemas import NotificationOut, ObservationIn, RetryPolicy, RuleSpec, SLOSpec
from shipyard.alerts.secrets import SecretBox, key_path
from shipyard.alerts.tables import AlertReceiver, AlertRule, ServiceLevelObjective
from shipyard.errors import InvalidArgument
from shipyard.events.context import Actor
from shipyard.projects import service as projects
from shipyard.projects.tables import Project
from shipyard.settings import Settings
from shipyard.store.base import utcnow
from shipyard.store.engine import Database


def secret_box(settings: Settings) -> SecretBox:
    """The deployment's key for receiver secrets (created on first use)."""
    return SecretBox.from_file(key_path(settings.home, settings.alerts.secrets_key_path))


def _check_receivers(session: Session, project: Project, names: Sequence[str]) -> None:
    known = set(session.scalars(select(AlertReceiver.name).where(AlertReceiver.project_id == project.id)))
    missing = [n for n in names if n not in known]
    if missing:
        raise InvalidArgument(
            f"receivers: {', '.join(repr(m) for m in missing)} do(es) not exist in project '{project.name}'; "
            "create the receiver first",
            {"field": "receivers", "missing": missing},
        )


def put_rule(session: Session, actor: Actor, project: Project, spec: RuleSpec) -> tuple[specs.Outcome, AlertRule]:
    _check_receivers(session, project, spec.receivers)
    if spec.source.kind == "monitor":
        sources.check_monitor_field(spec.source.field)
    return specs.put(session, actor, AlertRule, project, spec)


def put_slo(
    session: Session, actor: Actor, project: Project, spec: SLOSpec
) -> tuple[specs.Outcome, ServiceLevelObjective]:
    _check_receivers(session, project, spec.receivers)
    return specs.put(session, actor, ServiceLevelObjective, project, spec)


def push_observations(session: Session, project: Project, items: Sequence[ObservationIn]) -> int:
    now = utcnow()
    return sources.store_observations(session, project, [(o.series, o.at or now, o.value, o.labels) for o in items])


def send_test(
    db: Database,
    box: SecretBox,
    project_name: str,
    receiver_name: str,
    *,
    http: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    retry: RetryPolicy | None = None,
    now: datetime | None = None,
) -> NotificationOut:
    """Queue a ``test`` notification to one receiver and deliver it now (recorded like any other)."""
    now = now or utcnow()
    with db.session() as session:
        project = projects.get_by_name(session, project_name)
        receiver = receivers.get(session, project, receiver_name)
        event = AlertEvent(
            kind="test",
            project=project.name,
            name="shipyard-test",
            fingerprint="0" * 32,
            severity="info",
            labels={"receiver": receiver.name},
            value=1.0,
            op=">",
            threshold=0.0,
            summary=f"Test notification from Shipyard to receiver '{receiver.name}'",
            source="shipyard alerts receivers test",
            fired_at=now,
            resolved_at=None,
        )
        row = notify.enqueue(session, project.id, None, receiver, event)
        session.flush()
        nid, project_id = row.id, project.id
    sent = notify.deliver_pending(db, box, project_id, ids=[nid], http=http, sleep=sleep, rng=rng, retry=retry)
    return sent[0]


__all__ = ["push_observations", "put_rule", "put_slo", "secret_box", "send_test"]
