"""What a receiver is sent: a generic JSON document (close to Alertmanager's webhook) or a
Slack-compatible message (``{"text", "blocks"}``, Block Kit)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

PAYLOAD_VERSION = "1"


@dataclass(frozen=True)
class AlertEvent:
    """One alert instance at the moment it notifies."""

    kind: str  # firing, resolved, test
    project: str
    name: str
    fingerprint: str
    severity: str
    labels: Mapping[str, str]
    value: float | None
    op: str
    threshold: float
    summary: str
    source: str  # e.g. "rule churn-drift", "slo churn-availability window page-1h"
    fired_at: datetime | None
    resolved_at: datetime | None
    details: Mapping[str, Any] = field(default_factory=dict)


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _value(value: float | None) -> str:
    return "no data" if value is None else f"{value:.4g}"


def generic_payload(event: AlertEvent, receiver: str, sent_at: datetime) -> dict[str, Any]:
    return {
        "version": PAYLOAD_VERSION,
        "status": event.kind,
        "receiver": receiver,
        "project": event.project,
        "sent_at": sent_at.isoformat(),
        "alert": {
            "name": event.name,
            "fingerprint": event.fingerprint,
            "severity": event.severity,
            "labels": dict(event.labels),
            "value": event.value,
            "op": event.op,
            "threshold": event.threshold,
            "summary": event.summary,
            "source": event.source,
            "fired_at": _iso(event.fired_at),
            "resolved_at": _iso(event.resolved_at),
            "details": dict(event.details),
        },
    }


def headline(event: AlertEvent) -> str:
    state = {"firing": "FIRING", "resolved": "RESOLVED"}.get(event.kind, event.kind.upper())
    return f"[{state}] {event.name} ({event.severity}) in {event.project}"


def slack_payload(event: AlertEvent) -> dict[str, Any]:
    title = headline(event)
    condition = f"{_value(event.value)} {event.op} {event.threshold:g}"
    text = f"{title}: {event.summary or condition}"
    labels = ", ".join(f"{k}={v}" for k, v in sorted(event.labels.items())) or "none"
    fields = [
        {"type": "mrkdwn", "text": f"*Severity*\n{event.severity}"},
        {"type": "mrkdwn", "text": f"*Value*\n{condition}"},
        {"type": "mrkdwn", "text": f"*Source*\n{event.source}"},
        {"type": "mrkdwn", "text": f"*Labels*\n{labels}"},
    ]
    when = f"fired {_iso(event.fired_at) or '-'}"
    if event.resolved_at is not None:
        when += f" · resolved {_iso(event.resolved_at)}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": event.summary or condition}},
        {"type": "section", "fields": fields},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"{when} · fingerprint {event.fingerprint}"}]},
    ]
    return {"text": text, "blocks": blocks}


def payload_for(kind: str, event: AlertEvent, receiver: str, sent_at: datetime) -> dict[str, Any]:
    return slack_payload(event) if kind == "slack" else generic_payload(event, receiver, sent_at)


__all__ = ["PAYLOAD_VERSION", "AlertEvent", "generic_payload", "headline", "payload_for", "slack_payload"]
