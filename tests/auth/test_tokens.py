"""API token lifecycle: issued once, stored hashed, listed by prefix, expiring, revocable,
narrowed by scopes; last use recorded cheaply."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from shipyard.auth import tokens
from shipyard.auth.tables import ApiToken
from shipyard.client import Client
from shipyard.errors import InvalidArgument, PermissionDenied, Unauthenticated
from shipyard.settings import Settings
from shipyard.store.base import utcnow
from shipyard.store.engine import Database
from tests.auth.conftest import World, check


def _rows(settings: Settings) -> list[ApiToken]:
    db = Database(settings.database_url)
    try:
        with db.session(readonly=True) as session:
            return list(session.scalars(select(ApiToken)))
    finally:
        db.dispose()


def _set(settings: Settings, prefix: str, **values: object) -> None:
    db = Database(settings.database_url)
    try:
        with db.session() as session:
            session.execute(update(ApiToken).where(ApiToken.prefix == prefix).values(**values))
    finally:
        db.dispose()


def test_token_format_and_parsing() -> None:
    text, parts = tokens.new_token()
    assert text == f"sy_{parts.prefix}_{parts.secret}"
    assert tokens.parse(text) == parts
    assert len(parts.prefix) == 12
    assert len(parts.secret) == 52
    for bad in (
        "",
        "sy_",
        f"sy_{parts.prefix}",
        f"sy_{parts.prefix}_short",
        text + "x",
        text.upper(),
        "Bearer " + text,
    ):
        assert tokens.parse(bad) is None, bad
    assert tokens.matches(parts.secret, tokens.digest(parts.secret))
    assert not tokens.matches(parts.secret + "a", tokens.digest(parts.secret))
    assert tokens.new_token()[0] != text


def test_shown_once_stored_hashed_listed_by_prefix(world: World, settings: Settings) -> None:
    world.principal("ana")
    created = check(world.admin.post("/api/v1/principals/ana/tokens", json={"name": "laptop"}), 201)
    text, prefix = created["token"], created["prefix"]
    secret = tokens.parse(text).secret  # type: ignore[union-attr]
    assert created["status"] == "active"
    assert created["principal"] == "ana"
    ana = world.http(text)
    me = check(ana.get("/api/v1/whoami"), 200)
    assert me["name"] == "ana"
    assert me["token"]["prefix"] == prefix
    for listing in (ana.get("/api/v1/tokens"), world.admin.get("/api/v1/principals/ana/tokens")):
        body = check(listing, 200)
        assert [t["prefix"] for t in body["tokens"]] == [prefix]
        assert "token" not in body["tokens"][0]
        assert secret not in listing.text
    (row,) = [r for r in _rows(settings) if r.prefix == prefix]
    assert row.secret_sha256 == tokens.digest(secret)
    stored = " ".join(str(getattr(row, c.key)) for c in ApiToken.__table__.columns)
    assert secret not in stored


def test_expiry(world: World, settings: Settings) -> None:
    token = world.user("bo", bindings={"default": "viewer"}, scopes=None)
    bo = world.http(token)
    check(bo.get("/api/v1/whoami"), 200)
    prefix = tokens.parse(token).prefix  # type: ignore[union-attr]
    _set(settings, prefix, expires_at=utcnow() - timedelta(seconds=1))
    expired = bo.get("/api/v1/whoami")
    assert expired.status_code == 401
    assert "expired" in expired.json()["error"]["message"]
    assert 'error="invalid_token"' in expired.headers["www-authenticate"]
    assert check(world.admin.get("/api/v1/principals/bo/tokens"), 200)["tokens"] == []
    everything = check(world.admin.get("/api/v1/principals/bo/tokens", params={"include_inactive": True}), 200)
    assert [t["status"] for t in everything["tokens"]] == ["expired"]
    too_long = world.admin.post("/api/v1/principals/bo/tokens", json={"name": "x", "expires_in_days": 366})
    assert too_long.status_code == 400
    assert too_long.json()["error"]["details"]["field"] == "expires_in_days"
    zero = world.admin.post("/api/v1/principals/bo/tokens", json={"name": "x", "expires_in_days": 0})
    assert zero.status_code == 422
    short = check(world.admin.post("/api/v1/principals/bo/tokens", json={"name": "x", "expires_in_days": 2}), 201)
    assert timedelta(days=1) < _expires_in(short["expires_at"]) <= timedelta(days=2)


def _expires_in(iso: str) -> timedelta:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")) - utcnow()


def test_revocation(world: World) -> None:
    token = world.user("cy", bindings={"default": "developer"})
    other = world.user("dee", bindings={"default": "developer"})
    cy = world.http(token)
    prefix = tokens.parse(token).prefix  # type: ignore[union-attr]
    # someone else's prefix is answered like an unknown one
    assert world.http(other).post(f"/api/v1/tokens/{prefix}/revoke").status_code == 404
    revoked = check(cy.post(f"/api/v1/tokens/sy_{prefix}/revoke"), 200)
    assert revoked["status"] == "revoked"
    after = cy.get("/api/v1/whoami")
    assert after.status_code == 401
    assert after.json()["error"]["message"] == "this API token was revoked"
    # idempotent, and an admin can revoke anyone's
    second = check(world.admin.post(f"/api/v1/principals/cy/tokens/{prefix}/revoke"), 200)
    assert second["revoked_at"] == revoked["revoked_at"]
    check(world.http(other).get("/api/v1/whoami"), 200)


def test_scopes_narrow_and_never_widen(world: World) -> None:
    world.principal("eve")
    world.bind("default", "eve", "developer")
    read_only = world.token("eve", scopes=["tracking.read", "registry.approve"])
    eve = world.http(read_only)
    check(eve.post("/api/v1/projects/default/runs/search", json={}), 200)
    denied = eve.post("/api/v1/projects/default/experiments", json={"name": "x"})
    assert denied.status_code == 403
    assert denied.json()["error"]["details"]["permission"] == "tracking.write"
    # a scope the owner's roles do not grant grants nothing
    assert check(eve.get("/api/v1/whoami"), 200)["token"]["scopes"] == ["registry.approve", "tracking.read"]
    # a scoped token can mint only narrower tokens; unscoped requests inherit its scopes
    wider = eve.post("/api/v1/tokens", json={"name": "w", "scopes": ["tracking.write"]})
    assert wider.status_code == 403
    inherited = check(eve.post("/api/v1/tokens", json={"name": "i"}), 201)
    assert inherited["scopes"] == ["registry.approve", "tracking.read"]
    narrower = check(eve.post("/api/v1/tokens", json={"name": "n", "scopes": ["tracking.read"]}), 201)
    assert narrower["scopes"] == ["tracking.read"]
    bad = world.admin.post("/api/v1/principals/eve/tokens", json={"name": "b", "scopes": ["tracking.everything"]})
    assert bad.status_code == 400
    assert bad.json()["error"]["details"]["field"] == "scopes"
    empty = world.admin.post("/api/v1/principals/eve/tokens", json={"name": "b", "scopes": []})
    assert empty.status_code == 400


def test_last_used_is_recorded_at_most_once_a_minute(world: World, settings: Settings) -> None:
    token = world.user("fay")
    prefix = tokens.parse(token).prefix  # type: ignore[union-attr]
    assert [r.last_used_at for r in _rows(settings) if r.prefix == prefix] == [None]
    fay = world.http(token)
    check(fay.get("/api/v1/whoami"), 200)
    (first,) = [r.last_used_at for r in _rows(settings) if r.prefix == prefix]
    assert first is not None
    check(fay.get("/api/v1/whoami"), 200)
    assert [r.last_used_at for r in _rows(settings) if r.prefix == prefix] == [first]
    _set(settings, prefix, last_used_at=first - timedelta(minutes=2))
    check(fay.get("/api/v1/whoami"), 200)
    (third,) = [r.last_used_at for r in _rows(settings) if r.prefix == prefix]
    assert third is not None
    assert third > first - timedelta(minutes=2)


def test_disabled_principals_cannot_authenticate(world: World) -> None:
    token = world.user("gus", kind="service_account")
    check(world.admin.patch("/api/v1/service-accounts/gus", json={"disabled": True}), 200)
    reply = world.http(token).get("/api/v1/whoami")
    assert reply.status_code == 401
    assert "disabled" in reply.json()["error"]["message"]
    assert world.admin.post("/api/v1/principals/gus/tokens", json={"name": "x"}).status_code == 409
    check(world.admin.patch("/api/v1/service-accounts/gus", json={"disabled": False}), 200)
    assert check(world.http(token).get("/api/v1/whoami"), 200)["kind"] == "service_account"


def test_principal_names_are_one_namespace_and_validated(world: World) -> None:
    world.principal("hal")
    taken = world.admin.post("/api/v1/service-accounts", json={"name": "hal"})
    assert taken.status_code == 409
    bad = world.admin.post("/api/v1/users", json={"name": "Not A Name"})
    assert bad.status_code == 422
    assert bad.json()["error"]["details"]["fields"][0]["field"] == "body.name"
    role = world.admin.put("/api/v1/projects/default/members/hal", json={"role": "owner"})
    assert role.status_code == 422
    assert world.admin.get("/api/v1/service-accounts/hal").status_code == 404  # a user, not a service account
    check(world.admin.patch("/api/v1/users/hal", json={"org_role": "auditor"}), 200)
    assert check(world.admin.patch("/api/v1/users/hal", json={"org_role": None}), 200)["org_role"] is None


def test_sdk_token_lifecycle_over_http(world: World) -> None:
    world.principal("ivy")
    world.bind("default", "ivy", "maintainer")
    first = world.token("ivy")
    with Client(world.url, settings=world.settings, token=first) as ivy:
        assert ivy.whoami().name == "ivy"
        made = ivy.create_token("ci", expires_in_days=7, scopes=["tracking.write"])
        assert made.token.startswith(f"sy_{made.prefix}_")
        prefixes = {t.prefix for t in ivy.list_tokens().items}
        assert made.prefix in prefixes
        ivy.revoke_token(made.prefix)
        with pytest.raises(PermissionDenied):
            ivy.create_principal("user", "nope")
        with pytest.raises(InvalidArgument):
            ivy.create_token("x", scopes=["no.such"])
    with Client(world.url, settings=world.settings, token=made.token) as revoked, pytest.raises(Unauthenticated):
        revoked.whoami()
    with Client(world.url, settings=world.settings) as anonymous, pytest.raises(Unauthenticated):
        anonymous.list_projects()


def test_local_mode_manages_tokens_for_named_principals(settings: Settings) -> None:
    with Client(settings=settings) as local:
        with pytest.raises(InvalidArgument, match="local mode acts as the OS user"):
            local.create_token("mine")
        local.create_principal("service_account", "ci-runner")
        local.set_member("ci-runner", "runner")
        issued = local.create_token("ci", principal="ci-runner")
        assert issued.principal == "ci-runner"
        assert [m.principal for m in local.list_members().items] == ["ci-runner"]
        assert [t.prefix for t in local.list_tokens(principal="ci-runner").items] == [issued.prefix]
