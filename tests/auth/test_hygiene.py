"""Failed-authentication rate limiting, security headers, CORS, and no secret in any log."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from shipyard.auth.errors import TooManyFailedAttempts
from shipyard.auth.ratelimit import FailedAuthLimiter
from shipyard.demo.background_server import serve_in_thread
from shipyard.logging import configure_logging
from shipyard.server.app import create_app
from shipyard.server.headers import API_CSP
from shipyard.settings import Settings
from tests.auth.conftest import World, check
from tests.conftest import bootstrap_admin


def _with_auth(settings: Settings, **auth: Any) -> Settings:
    return settings.model_copy(update={"auth": settings.auth.model_copy(update=auth)})


@contextmanager
def serving(settings: Settings) -> Iterator[World]:
    token = bootstrap_admin(settings)
    with serve_in_thread(create_app(settings)) as url:
        world = World(url, settings, token)
        try:
            yield world
        finally:
            world.close()


# -- rate limiting ---------------------------------------------------------------------------
def test_limiter_slides_its_window() -> None:
    now = [1000.0]
    limiter = FailedAuthLimiter(limit=3, window_s=60, clock=lambda: now[0])
    for _ in range(3):
        limiter.check("10.0.0.1")
        limiter.failed("10.0.0.1")
        now[0] += 10
    with pytest.raises(TooManyFailedAttempts) as caught:
        limiter.check("10.0.0.1")
    assert caught.value.retry_after_s == 30  # the first failure leaves the window at t=1060
    limiter.check("10.0.0.2")  # other sources are unaffected
    now[0] += 30
    limiter.check("10.0.0.1")
    FailedAuthLimiter(limit=0, window_s=60).check("anyone")  # 0 disables


def test_failed_authentications_are_limited_per_source(settings: Settings) -> None:
    with serving(_with_auth(settings, failed_auth_limit=3, failed_auth_window_s=60)) as world:
        anonymous = world.http()
        for _ in range(5):  # no credential at all does not count
            assert anonymous.get("/api/v1/whoami").status_code == 401
        prefix_of_admin = world.admin_token.split("_")[1]
        for guess in ("sy_nonsense", f"sy_{prefix_of_admin}_{'a' * 52}", "not-a-token"):
            assert world.http(guess).get("/api/v1/whoami").status_code == 401
        limited = world.http("sy_another_guess").get("/api/v1/whoami")
        assert limited.status_code == 429
        assert limited.json()["error"]["code"] == "RESOURCE_EXHAUSTED"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        # while over the limit, even a valid token is refused from that address
        assert world.admin.get("/api/v1/whoami").status_code == 429
        assert anonymous.get("/healthz").status_code == 200  # public routes still answer


# -- headers -----------------------------------------------------------------------------------
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def test_security_headers_on_every_reply(world: World) -> None:
    data = b"cacheable"
    digest = hashlib.sha256(data).hexdigest()
    check(world.admin.put(f"/api/v1/projects/default/blobs/{digest}", content=data), 201)
    replies = {
        "ok": world.admin.get("/api/v1/projects"),
        "unauthenticated": world.http().get("/api/v1/projects"),
        "not found": world.admin.get("/api/v1/no-such-route"),
        "method": world.admin.delete("/api/v1/projects"),
        "token": world.admin.get("/api/v1/whoami"),
        "health": world.http().get("/healthz"),
        "blob": world.admin.get(f"/api/v1/projects/default/blobs/{digest}"),
    }
    for label, reply in replies.items():
        for name, value in SECURITY_HEADERS.items():
            assert reply.headers.get(name) == value, (label, name)
        assert reply.headers["x-request-id"], label
    for label in ("ok", "unauthenticated", "token", "not found"):
        assert replies[label].headers["content-security-policy"] == API_CSP, label
        assert replies[label].headers["cache-control"] == "no-store", label
    assert "immutable" in replies["blob"].headers["cache-control"]  # a route's own caching stands
    docs = world.http().get("/api/v1/docs")
    assert "cdn.jsdelivr.net" in docs.headers["content-security-policy"]
    assert docs.headers["x-frame-options"] == "DENY"


# -- CORS --------------------------------------------------------------------------------------
PREFLIGHT = {
    "Origin": "https://ui.example",
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type",
}


def test_cors_is_closed_by_default(world: World) -> None:
    preflight = world.http().options("/api/v1/projects", headers=PREFLIGHT)
    assert "access-control-allow-origin" not in preflight.headers
    assert preflight.status_code in (401, 405)
    plain = world.admin.get("/api/v1/projects", headers={"Origin": "https://ui.example"})
    assert plain.status_code == 200
    assert "access-control-allow-origin" not in plain.headers


def test_cors_opens_for_configured_origins_only(settings: Settings) -> None:
    with serving(_with_auth(settings, cors_origins=["https://ui.example"])) as world:
        preflight = world.http().options("/api/v1/projects", headers=PREFLIGHT)
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://ui.example"
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in preflight.headers
        assert preflight.headers["x-frame-options"] == "DENY"
        other = world.http().options("/api/v1/projects", headers={**PREFLIGHT, "Origin": "https://evil.example"})
        assert other.headers.get("access-control-allow-origin") != "https://evil.example"
        actual = world.admin.get("/api/v1/projects", headers={"Origin": "https://ui.example"})
        assert actual.headers["access-control-allow-origin"] == "https://ui.example"
        assert "x-request-id" in actual.headers["access-control-expose-headers"].lower()
        assert world.http().get("/api/v1/projects", headers={"Origin": "https://ui.example"}).status_code == 401


# -- logs ---------------------------------------------------------------------------------------
def test_no_token_in_any_log_line(
    settings: Settings, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    noisy = settings.model_copy(
        update={
            "logging": settings.logging.model_copy(update={"level": "DEBUG"}),
            "database": settings.database.model_copy(update={"echo": True}),
        }
    )
    caplog.set_level(logging.DEBUG)
    secrets: list[str] = []
    try:
        with serving(noisy) as world:
            secrets.append(world.admin_token)
            made = check(world.admin.post("/api/v1/users", json={"name": "lee"}), 201)
            assert made["name"] == "lee"
            issued = check(world.admin.post("/api/v1/principals/lee/tokens", json={"name": "x"}), 201)
            secrets.append(issued["token"])
            lee = world.http(issued["token"])
            check(lee.get("/api/v1/whoami"), 200)
            assert lee.get("/api/v1/projects/default/runs/nope").status_code == 404
            prefix = issued["prefix"]
            wrong = f"sy_{prefix}_{'b' * 52}"
            secrets.append(wrong)
            for bad in (wrong, issued["token"] + "x", issued["token"].upper()):
                assert world.http(bad).get("/api/v1/whoami").status_code == 401
            check(lee.post(f"/api/v1/tokens/{prefix}/revoke"), 200)
            assert lee.get("/api/v1/whoami").status_code == 401
            mine = check(world.admin.post("/api/v1/tokens", json={"name": "own"}), 201)
            secrets.append(mine["token"])
    finally:
        configure_logging(settings.logging)
    captured = capfd.readouterr()
    everything = captured.out + captured.err + caplog.text
    assert "authentication failed" in everything  # the logs did see the failures
    assert prefix in everything  # a prefix may be logged: it names a token, it does not prove one
    for text in secrets:
        secret = text.split("_", 2)[2]
        assert secret not in everything
        assert secret.upper() not in everything
        assert text not in everything
