"""OIDC bearer JWTs, against a locally generated RSA key whose JWKS a tiny loopback server
publishes: signature, issuer, audience, expiry, auto-provisioning, groups to roles."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from shipyard.auth.oidc import GroupRoles, OidcVerifier
from shipyard.demo.background_server import serve_in_thread
from shipyard.errors import InvalidArgument
from shipyard.server.app import create_app
from shipyard.settings import Settings
from tests.auth.conftest import World, check
from tests.conftest import bootstrap_admin

ISSUER = "https://idp.example"
AUDIENCE = "shipyard"


@dataclass
class IdentityProvider:
    """Signing keys, and the JWKS a loopback server publishes (with a fetch counter)."""

    keys: dict[str, rsa.RSAPrivateKey] = field(default_factory=dict)
    published: list[str] = field(default_factory=list)
    fetches: int = 0

    def add_key(self, kid: str, publish: bool = True) -> None:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if publish:
            self.published.append(kid)

    def jwks(self) -> dict[str, Any]:
        entries = []
        for kid in self.published:
            entry = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.keys[kid].public_key()))
            entries.append({**entry, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": entries}

    def token(self, kid: str = "k1", ttl: int = 300, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + ttl, "preferred_username": "Nia"} | claims
        return jwt.encode(body, self.keys[kid], algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def idp() -> Iterator[tuple[IdentityProvider, str]]:
    provider = IdentityProvider()
    provider.add_key("k1")

    async def jwks(_: Request) -> JSONResponse:
        provider.fetches += 1
        return JSONResponse(provider.jwks())

    with serve_in_thread(Starlette(routes=[Route("/jwks", jwks)])) as url:
        yield provider, f"{url}/jwks"


@pytest.fixture
def oidc_world(settings: Settings, idp: tuple[IdentityProvider, str]) -> Iterator[tuple[World, IdentityProvider]]:
    provider, jwks_url = idp
    configured = settings.model_copy(
        update={
            "auth": settings.auth.model_copy(
                update={
                    "oidc_issuer": ISSUER,
                    "oidc_audience": AUDIENCE,
                    "oidc_jwks_url": jwks_url,
                    "oidc_username_claim": "preferred_username",
                    "oidc_group_roles": ["ml-admins=org_admin", "alpha-devs=alpha:developer", "alpha-devs=beta:viewer"],
                }
            )
        }
    )
    admin = bootstrap_admin(configured)
    with serve_in_thread(create_app(configured)) as url:
        world = World(url, configured, admin)
        world.project("alpha")
        world.project("beta")
        try:
            yield world, provider
        finally:
            world.close()


def test_a_valid_jwt_signs_in_and_provisions_the_user(oidc_world: tuple[World, IdentityProvider]) -> None:
    world, idp = oidc_world
    nia = world.http(idp.token(groups=["alpha-devs"]))
    me = check(nia.get("/api/v1/whoami"), 200)
    assert (me["name"], me["kind"], me["via"], me["token"]) == ("nia", "user", "oidc", None)
    assert {(m["project"], m["role"], m["via"]) for m in me["memberships"]} == {
        ("alpha", "developer", "oidc_group"),
        ("beta", "viewer", "oidc_group"),
    }
    user = check(world.admin.get("/api/v1/users/nia"), 200)
    assert user["source"] == "oidc"
    check(nia.post("/api/v1/projects/alpha/experiments", json={"name": "from-sso"}), 201)
    assert nia.post("/api/v1/projects/beta/experiments", json={"name": "x"}).status_code == 403
    assert nia.get("/api/v1/projects/default").status_code == 404
    assert [p["name"] for p in check(nia.get("/api/v1/projects"), 200)["projects"]] == ["alpha", "beta"]
    events = check(world.admin.get("/api/v1/projects/alpha/events", params={"object_type": "experiment"}), 200)
    assert events["events"][-1]["actor"] == "nia"
    # groups are read from each token, never stored: without them, nia holds nothing
    plain = world.http(idp.token())
    assert plain.get("/api/v1/projects/alpha").status_code == 404
    assert check(plain.get("/api/v1/whoami"), 200)["memberships"] == []
    # stored bindings and org roles apply to OIDC users too
    world.bind("default", "nia", "viewer")
    check(plain.get("/api/v1/projects/default"), 200)
    admin_by_group = world.http(idp.token(groups=["ml-admins"]))
    check(admin_by_group.post("/api/v1/users", json={"name": "made-by-sso-admin"}), 201)


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"ttl": -120}, "expired"),
        ({"aud": "someone-else"}, "audience"),
        ({"iss": "https://evil.example"}, "issuer"),
        ({"preferred_username": None}, "claim"),
        ({"preferred_username": "Has Spaces"}, "user name"),
    ],
)
def test_invalid_jwts_are_refused(
    oidc_world: tuple[World, IdentityProvider], claims: dict[str, Any], message: str
) -> None:
    world, idp = oidc_world
    given = dict(claims)  # the parameter is shared by both databases' runs
    ttl = given.pop("ttl", 300)
    reply = world.http(idp.token(ttl=ttl, **given)).get("/api/v1/whoami")
    assert reply.status_code == 401, reply.text
    assert message in reply.json()["error"]["message"]
    assert reply.headers["www-authenticate"].startswith("Bearer")


def test_forged_signatures_are_refused(oidc_world: tuple[World, IdentityProvider]) -> None:
    world, idp = oidc_world
    idp.add_key("rogue", publish=False)
    assert world.http(idp.token(kid="rogue")).get("/api/v1/whoami").status_code == 401
    # the published key's id, but signed by another key
    forged = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60, "preferred_username": "mallory"},
        idp.keys["rogue"],
        algorithm="RS256",
        headers={"kid": "k1"},
    )
    assert world.http(forged).get("/api/v1/whoami").status_code == 401
    # HS256 keyed with the public key (algorithm confusion), and alg none
    public_pem = (
        idp.keys["k1"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    claims = {"iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60, "preferred_username": "mallory"}
    confused = _hand_signed({"alg": "HS256", "typ": "JWT", "kid": "k1"}, claims, public_pem)
    unsigned = jwt.encode(claims, key="", algorithm="none")
    for token in (confused, unsigned):
        reply = world.http(token).get("/api/v1/whoami")
        assert reply.status_code == 401, token
    assert check(world.admin.get("/api/v1/users"), 200)["principals"][0]["name"] == "admin"  # no mallory


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hand_signed(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    """A JWT HMAC-signed by hand (PyJWT itself refuses to use a public key as an HMAC secret)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def test_keys_are_cached_and_refetched_on_rotation(
    oidc_world: tuple[World, IdentityProvider], monkeypatch: pytest.MonkeyPatch
) -> None:
    world, idp = oidc_world
    for _ in range(3):
        check(world.http(idp.token()).get("/api/v1/whoami"), 200)
    assert idp.fetches == 1
    idp.add_key("k2")
    monkeypatch.setattr("shipyard.auth.oidc.MIN_REFETCH_S", 0.0)  # no pause between refetches
    check(world.http(idp.token(kid="k2")).get("/api/v1/whoami"), 200)
    assert idp.fetches == 2
    check(world.http(idp.token(kid="k2")).get("/api/v1/whoami"), 200)
    assert idp.fetches == 2


def test_a_local_account_cannot_be_taken_over_through_the_idp(oidc_world: tuple[World, IdentityProvider]) -> None:
    world, idp = oidc_world
    reply = world.http(idp.token(preferred_username="admin", groups=["ml-admins"])).get("/api/v1/whoami")
    assert reply.status_code == 401
    assert "local account" in reply.json()["error"]["message"]


def test_group_role_mapping_is_validated(settings: Settings) -> None:
    parsed = GroupRoles.parse(["a=org_admin", "b=fraud:runner", "b=auditor"])
    assert parsed.resolve(["b", "unknown"]) == (frozenset({"auditor"}), (("fraud", "runner"),))
    for bad in ("no-equals", "g=superuser", "g=Fraud:developer", "g=fraud:owner", "=org_admin"):
        with pytest.raises(InvalidArgument) as caught:
            GroupRoles.parse([bad])
        assert caught.value.details["field"] == "auth.oidc_group_roles"
    weak = settings.auth.model_copy(
        update={
            "oidc_issuer": ISSUER,
            "oidc_audience": AUDIENCE,
            "oidc_jwks_url": "http://127.0.0.1:9/jwks",
            "oidc_algorithms": ["HS256"],
        }
    )
    with pytest.raises(InvalidArgument) as refused:
        OidcVerifier(weak)
    assert refused.value.details["field"] == "auth.oidc_algorithms"
