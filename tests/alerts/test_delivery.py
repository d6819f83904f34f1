"""Webhook delivery against a real receiver on loopback: retries with backoff, bounded
attempts, refusals, signatures, payload shapes, and no secret in what is recorded."""

from __future__ import annotations

import json
import random
import socket
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from shipyard.alerts.delivery import SIGNATURE_HEADER, WebhookRequest, backoff_s, deliver, verify_signature
from shipyard.alerts.payloads import AlertEvent, generic_payload, slack_payload
from shipyard.alerts.schemas import RetryPolicy
from shipyard.alerts.secrets import SecretBox, redact_url, scrub
from shipyard.errors import Unavailable
from tests.alerts.conftest import TOKEN, WebhookReceiver

FAST = RetryPolicy(max_attempts=5, backoff_s=0.05, max_backoff_s=1.0, timeout_s=5.0)
EVENT = AlertEvent(
    kind="firing",
    project="default",
    name="drift-high",
    fingerprint="f" * 32,
    severity="page",
    labels={"endpoint": "churn"},
    value=0.6,
    op=">",
    threshold=0.5,
    summary="drift share above half",
    source="rule drift-high",
    fired_at=datetime(2026, 1, 1, tzinfo=UTC),
    resolved_at=None,
)


def test_retries_with_exponential_backoff_until_delivered(webhook: WebhookReceiver) -> None:
    webhook.fail_first = 3
    with httpx.Client() as client:
        attempts = deliver(client, WebhookRequest(webhook.hook_url, {"a": 1}), FAST, rng=random.Random(7))
    assert [a.delivered for a in attempts] == [False, False, False, True]
    assert [a.http_status for a in attempts] == [503, 503, 503, 200]
    assert attempts[0].error == "HTTP 503: nope"
    assert all(a.duration_ms > 0 for a in attempts)
    gaps = [b.at - a.at for a, b in zip(webhook.received, webhook.received[1:], strict=False)]
    # each wait is backoff_s * 2^(n-1) times a jitter factor in [0.5, 1]
    for n, gap in enumerate(gaps, start=1):
        assert gap >= 0.5 * FAST.backoff_s * 2 ** (n - 1)
    assert gaps[2] > gaps[0]


def test_attempts_are_bounded(webhook: WebhookReceiver) -> None:
    webhook.fail_first = 100
    waits: list[float] = []
    policy = RetryPolicy(max_attempts=3, backoff_s=0.01, max_backoff_s=0.02)
    with httpx.Client() as client:
        attempts = deliver(client, WebhookRequest(webhook.hook_url, {}), policy, sleep=waits.append)
    assert len(attempts) == 3
    assert not any(a.delivered for a in attempts)
    assert len(waits) == 2  # no wait after the last attempt
    assert all(w <= 0.02 for w in waits)


def test_a_client_error_is_final_and_retry_after_is_honoured(webhook: WebhookReceiver) -> None:
    webhook.fail_first, webhook.fail_status = 1, 400
    with httpx.Client() as client:
        attempts = deliver(client, WebhookRequest(webhook.hook_url, {}), FAST)
    assert [(a.delivered, a.http_status) for a in attempts] == [(False, 400)]
    webhook.received.clear()
    webhook.fail_first, webhook.fail_status, webhook.headers_on_fail = 1, 429, {"Retry-After": "0.3"}
    waits: list[float] = []
    with httpx.Client() as client:
        attempts = deliver(client, WebhookRequest(webhook.hook_url, {}), FAST, sleep=waits.append)
    assert [a.http_status for a in attempts] == [429, 200]
    assert waits == [pytest.approx(0.3)]


def test_unreachable_receiver_is_retried_and_its_url_never_recorded() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/hooks/{TOKEN}?key={TOKEN}"
    policy = RetryPolicy(max_attempts=2, backoff_s=0.01, timeout_s=2.0)
    with httpx.Client() as client:
        attempts = deliver(client, WebhookRequest(url, {}, {"Authorization": f"Bearer {TOKEN}"}), policy)
    assert len(attempts) == 2
    assert attempts[0].http_status is None
    assert attempts[0].error.startswith("ConnectError")
    assert all(TOKEN not in a.error for a in attempts)


def test_signed_requests_verify_with_the_secret(webhook: WebhookReceiver) -> None:
    secret = "a-signing-secret-of-32-characters"
    with httpx.Client() as client:
        deliver(client, WebhookRequest(webhook.hook_url, {"x": 1}, {"X-Extra": "1"}, secret), FAST)
    got = webhook.received[0]
    assert got.headers["x-extra"] == "1"
    assert got.headers["content-type"] == "application/json"
    assert verify_signature(secret, got.body, got.headers[SIGNATURE_HEADER.lower()], now=time.time())
    assert not verify_signature(
        "another-secret-entirely!", got.body, got.headers[SIGNATURE_HEADER.lower()], now=time.time()
    )
    assert not verify_signature(secret, got.body + b" ", got.headers[SIGNATURE_HEADER.lower()], now=time.time())
    assert not verify_signature(secret, got.body, got.headers[SIGNATURE_HEADER.lower()], now=time.time() + 3600)


def test_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(backoff_s=1.0, max_backoff_s=5.0)
    rng = random.Random(1)
    for n, cap in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (8, 5.0)]:
        wait = backoff_s(policy, n, rng)
        assert cap / 2 <= wait <= cap


def test_generic_and_slack_payloads() -> None:
    generic = generic_payload(EVENT, "ops", datetime(2026, 1, 1, 0, 5, tzinfo=UTC))
    assert generic["status"] == "firing"
    assert generic["receiver"] == "ops"
    assert generic["alert"]["labels"] == {"endpoint": "churn"}
    assert generic["alert"]["fired_at"] == "2026-01-01T00:00:00+00:00"
    assert json.loads(json.dumps(generic)) == generic
    slack = slack_payload(EVENT)
    assert set(slack) == {"text", "blocks"}
    assert slack["text"].startswith("[FIRING] drift-high (page) in default")
    assert [b["type"] for b in slack["blocks"]] == ["header", "section", "section", "context"]
    assert slack["blocks"][0]["text"]["type"] == "plain_text"
    assert all(f["type"] == "mrkdwn" for f in slack["blocks"][2]["fields"])
    resolved = slack_payload(AlertEvent(**{**EVENT.__dict__, "kind": "resolved"}))
    assert resolved["text"].startswith("[RESOLVED]")


def test_redaction_and_sealing(tmp_path: Path) -> None:
    url = f"https://hooks.example.com/services/{TOKEN}?token={TOKEN}"
    shown = redact_url(url)
    assert shown.startswith("https://hooks.example.com/… #")
    assert TOKEN not in shown
    assert scrub(f"failed to POST {url}", [url]) == "failed to POST ****"
    assert TOKEN not in scrub(f"path /services/{TOKEN} refused", [url])
    box = SecretBox.from_file(tmp_path / "keys" / "k")
    assert (tmp_path / "keys" / "k").stat().st_mode & 0o777 == 0o600
    sealed = box.seal({"url": url})
    assert TOKEN not in sealed
    assert SecretBox.from_file(tmp_path / "keys" / "k").open(sealed) == {"url": url}
    with pytest.raises(Unavailable, match="cannot be decrypted"):
        SecretBox.from_file(tmp_path / "other").open(sealed)
