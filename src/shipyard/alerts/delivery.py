"""Send one notification to one webhook, retrying with exponential backoff and jitter.

Attempt *n* (from 1) that fails with a connection error, a timeout, a 5xx or a 429 is
followed, while attempts remain, by a wait of ``min(max_backoff_s, backoff_s · 2^(n-1))``
times a random factor in [0.5, 1] ("equal jitter"); a 429's ``Retry-After`` (seconds)
lengthens that wait, up to ``max_backoff_s``. Any other 4xx is final: the receiver refused
the message and sending it again would not change that. Every attempt is returned (and
stored by the caller) with its outcome, status, error and duration — errors scrubbed of
the URL, header values and the signing secret.

With a signing secret the body is signed: ``X-Shipyard-Signature: t=<unix seconds>,
v1=<hex HMAC-SHA256 of "<t>.<body>">`` (verify it with :func:`verify_signature`; reject
old ``t`` to stop replays).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from shipyard.alerts.schemas import RetryPolicy
from shipyard.alerts.secrets import scrub
from shipyard.store.base import utcnow

SIGNATURE_HEADER = "X-Shipyard-Signature"
USER_AGENT = "shipyard-alerts/1"


@dataclass(frozen=True)
class WebhookRequest:
    url: str
    body: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)
    signing_secret: str | None = None

    def secrets(self) -> list[str]:
        return [self.url, *self.headers.values(), *([self.signing_secret] if self.signing_secret else [])]


@dataclass(frozen=True)
class Attempt:
    attempt: int
    at: datetime
    delivered: bool
    http_status: int | None
    error: str
    duration_ms: float
    retry_after_s: float | None = None


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(secret: str, body: bytes, header: str, *, now: float, tolerance_s: float = 300.0) -> bool:
    """A receiver's check of ``X-Shipyard-Signature``."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, body, timestamp), header)


def backoff_s(policy: RetryPolicy, attempt: int, rng: random.Random) -> float:
    """The wait after failed attempt ``attempt`` (1-based)."""
    base: float = min(policy.max_backoff_s, policy.backoff_s * 2.0 ** (attempt - 1))
    return base * rng.uniform(0.5, 1.0)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _one(client: httpx.Client, request: WebhookRequest, policy: RetryPolicy, attempt: int) -> tuple[Attempt, bool]:
    """One attempt, and whether another may follow."""
    body = json.dumps(request.body, separators=(",", ":"), default=str).encode()
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **request.headers}
    if request.signing_secret:
        headers[SIGNATURE_HEADER] = sign(request.signing_secret, body, int(time.time()))
    at = utcnow()
    started = time.perf_counter()
    try:
        response = client.post(request.url, content=body, headers=headers, timeout=policy.timeout_s)
    except httpx.HTTPError as exc:
        error = scrub(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, request.secrets())
        elapsed = (time.perf_counter() - started) * 1000
        return Attempt(attempt, at, False, None, error, elapsed), True
    elapsed = (time.perf_counter() - started) * 1000
    status = response.status_code
    if 200 <= status < 300:
        return Attempt(attempt, at, True, status, "", elapsed), False
    retryable = status >= 500 or status == 429
    reason = scrub(response.text[:200], request.secrets()).strip()
    error = f"HTTP {status}" + (f": {reason}" if reason else "")
    return Attempt(attempt, at, False, status, error, elapsed, _retry_after(response)), retryable


def deliver(
    client: httpx.Client,
    request: WebhookRequest,
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> list[Attempt]:
    """Send until delivered, refused, or ``policy.max_attempts`` attempts were made."""
    rng = rng or random.Random()
    attempts: list[Attempt] = []
    for n in range(1, policy.max_attempts + 1):
        attempt, retryable = _one(client, request, policy, n)
        attempts.append(attempt)
        if attempt.delivered or not retryable or n == policy.max_attempts:
            break
        wait = backoff_s(policy, n, rng)
        if attempt.retry_after_s is not None:
            wait = min(policy.max_backoff_s, max(wait, attempt.retry_after_s))
        sleep(wait)
    return attempts


__all__ = ["SIGNATURE_HEADER", "Attempt", "WebhookRequest", "backoff_s", "deliver", "sign", "verify_signature"]
