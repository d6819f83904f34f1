"""Webhook receivers: put (create or replace), read, list, delete. The URL, headers and
signing secret are sealed (:mod:`shipyard.alerts.secrets`) before they reach the table;
replies and events carry the redacted URL and the header names only."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.alerts import specs
from shipyard.alerts.schemas import ReceiverOut, ReceiverSpec, RetryPolicy
from shipyard.alerts.secrets import SecretBox, redact_url
from shipyard.alerts.specs import Outcome
from shipyard.alerts.tables import AlertReceiver
from shipyard.events import service as events
from shipyard.events.context import Actor
from shipyard.projects.tables import Project
from shipyard.store.pagination import Page


@dataclass(frozen=True)
class Unsealed:
    """What delivery needs of a receiver (never logged, never returned)."""

    name: str
    kind: str
    url: str
    headers: dict[str, str]
    signing_secret: str | None
    retry: RetryPolicy


def get(session: Session, project: Project, name: str) -> AlertReceiver:
    return specs.get(session, AlertReceiver, project, name)


def put(
    session: Session, actor: Actor, box: SecretBox, project: Project, spec: ReceiverSpec
) -> tuple[Outcome, AlertReceiver]:
    sealed = box.seal({"url": spec.url, "headers": spec.headers, "signing_secret": spec.signing_secret})
    row = session.scalar(
        select(AlertReceiver).where(AlertReceiver.project_id == project.id, AlertReceiver.name == spec.name)
    )
    outcome: Outcome = "created" if row is None else "updated"
    if row is None:
        row = AlertReceiver(project_id=project.id, name=spec.name, created_by=actor.name)
        session.add(row)
    row.kind = spec.kind
    row.url_redacted = redact_url(spec.url)
    row.header_names = sorted(spec.headers)
    row.signed = spec.signing_secret is not None
    row.secrets = sealed
    row.retry = spec.retry.model_dump(mode="json")
    session.flush()
    events.record(
        session,
        actor,
        f"alert_receiver.{outcome}",
        project_id=project.id,
        object_type="alert_receiver",
        object_id=spec.name,
        details={"kind": spec.kind, "url": row.url_redacted, "headers": row.header_names},
    )
    return outcome, row


def delete(session: Session, actor: Actor, project: Project, name: str) -> None:
    row = get(session, project, name)
    session.delete(row)
    session.flush()
    events.record(
        session, actor, "alert_receiver.deleted", project_id=project.id, object_type="alert_receiver", object_id=name
    )


def list_page(session: Session, project: Project, *, page_token: str | None, page_size: int) -> Page[AlertReceiver]:
    return specs.list_page(session, AlertReceiver, project, page_token=page_token, page_size=page_size)


def unseal(box: SecretBox, row: AlertReceiver) -> Unsealed:
    secrets = box.open(row.secrets)
    headers = secrets.get("headers") or {}
    secret = secrets.get("signing_secret")
    assert isinstance(headers, dict)
    return Unsealed(
        name=row.name,
        kind=row.kind,
        url=str(secrets["url"]),
        headers={str(k): str(v) for k, v in headers.items()},
        signing_secret=str(secret) if secret else None,
        retry=RetryPolicy.model_validate(row.retry),
    )


def receiver_out(row: AlertReceiver) -> ReceiverOut:
    return ReceiverOut(
        name=row.name,
        kind=row.kind,
        url=row.url_redacted,
        header_names=list(row.header_names),
        signed=row.signed,
        retry=RetryPolicy.model_validate(row.retry),
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


__all__ = ["Unsealed", "delete", "get", "list_page", "put", "receiver_out", "unseal"]
