"""The notification outbox: an alert transition owes each of its receivers one
notification (a row, written in the evaluation's unit of work); :func:`deliver_pending`
sends what is owed, outside any transaction, and records every attempt.

A notification is claimed before it is sent (``pending`` → ``sending``, a conditional
update only one process can win), so two evaluation passes never send it twice; one left
``sending`` by a process that died is claimed again after :data:`CLAIM_TIMEOUT`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from shipyard.alerts import receivers
from shipyard.alerts.delivery import Attempt, WebhookRequest, deliver
from shipyard.alerts.payloads import AlertEvent, payload_for
from shipyard.alerts.schemas import NotificationOut, RetryPolicy
from shipyard.alerts.secrets import SecretBox
from shipyard.alerts.tables import AlertDelivery, AlertNotification, AlertReceiver
from shipyard.store.base import utcnow
from shipyard.store.engine import Database

CLAIM_TIMEOUT = timedelta(minutes=10)
MAX_PER_PASS = 200
# Plain logging (as the audit log): in local mode stdout is the command's output.
log = logging.getLogger("shipyard.alerts")


def event_doc(event: AlertEvent) -> dict[str, Any]:
    doc = asdict(event)
    for key in ("fired_at", "resolved_at"):
        doc[key] = doc[key].isoformat() if doc[key] is not None else None
    doc["labels"] = dict(event.labels)
    doc["details"] = dict(event.details)
    return doc


def event_of(doc: dict[str, Any]) -> AlertEvent:
    data = dict(doc)
    for key in ("fired_at", "resolved_at"):
        data[key] = datetime.fromisoformat(data[key]) if data[key] else None
    return AlertEvent(**data)


def enqueue(
    session: Session, project_id: str, alert_id: int | None, receiver: AlertReceiver, event: AlertEvent
) -> AlertNotification:
    row = AlertNotification(
        project_id=project_id,
        alert_id=alert_id,
        receiver_id=receiver.id,
        alert_name=event.name,
        kind=event.kind,
        event=event_doc(event),
        status="pending",
        attempts=0,
    )
    session.add(row)
    return row


def _claim(db: Database, project_id: str, ids: Sequence[int] | None, now: datetime) -> list[int]:
    claimable = or_(
        AlertNotification.status == "pending",
        and_(AlertNotification.status == "sending", AlertNotification.claimed_at < now - CLAIM_TIMEOUT),
    )
    with db.session() as session:
        stmt = select(AlertNotification.id).where(AlertNotification.project_id == project_id, claimable)
        if ids is not None:
            stmt = stmt.where(AlertNotification.id.in_(list(ids)))
        candidates = list(session.scalars(stmt.order_by(AlertNotification.id).limit(MAX_PER_PASS)))
        claimed = []
        for nid in candidates:
            result = session.execute(
                update(AlertNotification)
                .where(AlertNotification.id == nid, claimable)
                .values(status="sending", claimed_at=now)
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                claimed.append(nid)
    return claimed


def _record(db: Database, nid: int, project_id: str, attempts: list[Attempt]) -> NotificationOut:
    delivered = any(a.delivered for a in attempts)
    with db.session() as session:
        row = session.get(AlertNotification, nid)
        assert row is not None
        session.add_all(
            AlertDelivery(
                project_id=project_id,
                notification_id=nid,
                attempt=row.attempts + a.attempt,
                at=a.at,
                outcome="delivered" if a.delivered else "failed",
                http_status=a.http_status,
                error=a.error,
                duration_ms=a.duration_ms,
            )
            for a in attempts
        )
        row.attempts += len(attempts)
        row.status = "delivered" if delivered else "failed"
        row.finished_at = utcnow()
        receiver = session.get(AlertReceiver, row.receiver_id)
        out = NotificationOut(
            id=row.id,
            alert=row.alert_name,
            receiver=receiver.name if receiver else "",
            kind=row.kind,
            status=row.status,
            attempts=row.attempts,
        )
    log.info("alert notification %s to %s: %s after %d attempt(s)", nid, out.receiver, out.status, len(attempts))
    return out


def deliver_pending(
    db: Database,
    box: SecretBox,
    project_id: str,
    *,
    ids: Sequence[int] | None = None,
    http: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    retry: RetryPolicy | None = None,
) -> list[NotificationOut]:
    """Send every pending notification of the project (or only ``ids``); ``retry``
    overrides the receivers' own policies (tests)."""
    claimed = _claim(db, project_id, ids, utcnow())
    if not claimed:
        return []
    own = http is None
    client = http or httpx.Client(follow_redirects=False)
    results = []
    try:
        for nid in claimed:
            with db.session(readonly=True) as session:
                row = session.get(AlertNotification, nid)
                receiver_row = session.get(AlertReceiver, row.receiver_id) if row else None
                if row is None or receiver_row is None:
                    continue
                target = receivers.unseal(box, receiver_row)
                event = event_of(row.event)
            body = payload_for(target.kind, event, target.name, utcnow())
            request = WebhookRequest(target.url, body, target.headers, target.signing_secret)
            attempts = deliver(client, request, retry or target.retry, sleep=sleep, rng=rng)
            results.append(_record(db, nid, project_id, attempts))
    finally:
        if own:
            client.close()
    return results


__all__ = ["CLAIM_TIMEOUT", "deliver_pending", "enqueue", "event_doc", "event_of"]
