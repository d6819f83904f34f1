"""Protected aliases and four-eyes approvals, through a real server with several users.

Project ``a`` has a model ``churn`` with three READY versions and ``@production`` on
version 1, protected. ``dev`` (developer) requests, ``maint`` and ``maint2``
(maintainers) decide, ``admin`` is an org admin; ``maint-b`` is a maintainer of ``b``
only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from shipyard.client import Client
from shipyard.demo.background_server import serve_in_thread
from shipyard.errors import Conflict, PermissionDenied
from shipyard.models import save_model
from shipyard.registry.tables import AliasChangeRequest, RegisteredModel
from shipyard.server.app import create_app
from shipyard.settings import Settings
from shipyard.store.engine import Database
from tests.auth.conftest import World, check
from tests.conftest import bootstrap_admin

A = "/api/v1/projects/a"
MODEL = f"{A}/models/churn"


@dataclass
class Team:
    world: World
    tokens: dict[str, str]

    def http(self, who: str) -> httpx.Client:
        return self.world.http(self.tokens[who])

    def sdk(self, who: str) -> Client:
        return Client(self.world.url, settings=self.world.settings, token=self.tokens[who], project="a")

    def request(self, who: str, version: int | None = 2, *, alias: str = "production", **extra: Any) -> Any:
        body = {"model": "churn", "alias": alias, "version": version, "comment": f"{who} wants it", **extra}
        return check(self.http(who).post(f"{A}/alias-requests", json=body), 201)

    def decide(self, who: str, request_id: int, verb: str, comment: str = "looks good") -> httpx.Response:
        return self.http(who).post(f"{A}/alias-requests/{request_id}/{verb}", json={"comment": comment})

    def production(self) -> int:
        version: int = check(self.http("admin").get(f"{MODEL}/aliases/production"), 200)["version"]
        return version

    def events(self, object_type: str) -> list[dict[str, Any]]:
        reply = check(self.http("admin").get(f"{A}/events", params={"object_type": object_type}), 200)
        found: list[dict[str, Any]] = reply["events"]
        return found


@pytest.fixture
def team(settings: Settings, iris_model: tuple[Any, Any], tmp_path: Path) -> Iterator[Team]:
    admin = bootstrap_admin(settings)
    with serve_in_thread(create_app(settings)) as url:
        world = World(url, settings, admin)
        try:
            world.project("a")
            world.project("b")
            tokens = {
                "admin": admin,
                "dev": world.user("dev", bindings={"a": "developer"}),
                "maint": world.user("maint", bindings={"a": "maintainer"}),
                "maint2": world.user("maint2", bindings={"a": "maintainer"}),
                "maint-b": world.user("maint-b", bindings={"b": "maintainer"}),
            }
            model, frame = iris_model
            save_model(model, tmp_path / "model", input_example=frame.head(2))
            with Client(url, settings=settings, token=admin, project="a") as sdk:
                run = sdk.create_run(name="train")
                sdk.log_artifacts(run.id, tmp_path / "model", artifact_path="model")
                for _ in range(3):
                    assert sdk.register_model(f"runs:/{run.id}/model", "churn").status.value == "READY"
                sdk.set_alias("churn", "production", 1)
            team = Team(world, tokens)
            check(team.http("maint").put(f"{A}/protected-aliases/production"), 200)
            yield team
        finally:
            world.close()


def test_a_protected_alias_cannot_be_moved_directly(team: Team) -> None:
    for who in ("dev", "maint", "admin"):
        moved = team.http(who).put(f"{MODEL}/aliases/production", json={"version": 2})
        error = check(moved, 409)["error"]
        assert error["code"] == "CONFLICT"
        assert "@production is protected" in error["message"]
        assert "request" in error["message"]
        assert error["details"]["reason"] == "protected_alias"
        assert error["details"]["fix"].startswith("shipyard models request-alias churn production 2")
        removed = check(team.http(who).delete(f"{MODEL}/aliases/production"), 409)
        assert removed["error"]["details"]["reason"] == "protected_alias"
    assert team.production() == 1
    # Other aliases and other projects are untouched by the protection.
    check(team.http("dev").put(f"{MODEL}/aliases/staging", json={"version": 2}), 200)
    # Protecting is a maintainer's permission, and idempotent.
    denied = check(team.http("dev").put(f"{A}/protected-aliases/canary"), 403)["error"]
    assert denied["details"]["permission"] == "registry.protect"
    again = check(team.http("maint2").put(f"{A}/protected-aliases/production"), 200)
    assert again["created_by"] == "maint"
    bad = check(team.http("maint").put(f"{A}/protected-aliases/latest"), 400)
    assert bad["error"]["details"]["field"] == "alias"
    listed = check(team.http("dev").get(f"{A}/protected-aliases"), 200)
    assert [a["alias"] for a in listed["aliases"]] == ["production"]
    assert [e["action"] for e in team.events("protected_alias")] == ["model_alias.protect"]
    # Lifting the protection (recorded) frees the alias again.
    check(team.http("maint").delete(f"{A}/protected-aliases/production"), 204)
    check(team.http("maint").delete(f"{A}/protected-aliases/production"), 404)
    check(team.http("dev").put(f"{MODEL}/aliases/production", json={"version": 3}), 200)
    assert [e["action"] for e in team.events("protected_alias")] == ["model_alias.protect", "model_alias.unprotect"]


def test_request_then_approval_by_another_maintainer_moves_the_alias(team: Team) -> None:
    blank = check(team.http("dev").post(f"{A}/alias-requests", json={"model": "churn", "alias": "production"}), 400)
    assert blank["error"]["details"]["field"] == "comment"
    created = team.request("dev", 2)
    assert (created["status"], created["action"], created["from_version"], created["to_version"]) == (
        "pending",
        "set",
        1,
        2,
    )
    assert created["requested_by"] == "dev"
    assert created["comment"] == "dev wants it"
    rid = created["id"]
    # A developer can request but not approve.
    denied = check(team.decide("dev", rid, "approve"), 403)["error"]
    assert denied["details"]["permission"] == "registry.approve"
    assert "registry.approve" in denied["message"]
    # Approving needs a comment.
    assert check(team.decide("maint", rid, "approve", "  "), 400)["error"]["details"]["field"] == "comment"
    assert team.production() == 1
    approved = check(team.decide("maint", rid, "approve", "checked the eval report"), 200)
    assert approved["status"] == "approved"
    assert (approved["decided_by"], approved["decision_comment"]) == ("maint", "checked the eval report")
    assert approved["decided_at"] is not None
    assert team.production() == 2
    # Decided is final.
    assert check(team.decide("maint2", rid, "approve"), 409)["error"]["details"]["reason"] == "decided"
    assert check(team.decide("maint2", rid, "reject"), 409)["error"]["details"]["reason"] == "decided"
    history = check(team.http("dev").get(f"{MODEL}/alias-history", params={"alias": "production"}), 200)
    assert [(c["from_version"], c["to_version"], c["actor"]) for c in history["changes"]][-1] == (1, 2, "maint")
    # Every step is an event with its comments, and the audit chain still verifies.
    steps = {e["action"]: e for e in team.events("alias_request")}
    assert set(steps) == {"alias_request.create", "alias_request.approve"}
    assert steps["alias_request.create"]["actor"] == "dev"
    assert steps["alias_request.create"]["details"]["comment"] == "dev wants it"
    assert steps["alias_request.approve"]["actor"] == "maint"
    assert steps["alias_request.approve"]["details"]["comment"] == "checked the eval report"
    assert steps["alias_request.approve"]["object_id"] == str(rid)
    moves = [e for e in team.events("registered_model") if e["action"] == "model_alias.set"]
    assert moves[-1]["details"] == {"alias": "production", "from_version": 1, "to_version": 2, "approval": rid}
    report = check(team.http("admin").get("/api/v1/audit/verify"), 200)
    assert report["ok"] is True


def test_nobody_approves_their_own_request(team: Team) -> None:
    for who in ("maint", "admin"):  # a maintainer, and an org admin who holds every permission
        rid = team.request(who, 2)["id"]
        error = check(team.decide(who, rid, "approve"), 409)["error"]
        assert error["details"]["reason"] == "four_eyes"
        assert "another maintainer" in error["message"]
        assert check(team.decide(who, rid, "reject"), 409)["error"]["details"]["reason"] == "four_eyes"
        assert team.production() == 1
        check(team.http(who).post(f"{A}/alias-requests/{rid}/cancel", json={}), 200)
    rid = team.request("maint", 3)["id"]
    with team.sdk("maint2") as sdk:
        approved = sdk.approve_alias_request(rid, comment="second pair of eyes")
    assert (approved.status.value, approved.decided_by) == ("approved", "maint2")
    assert team.production() == 3


def test_reject_and_cancel(team: Team) -> None:
    with team.sdk("dev") as dev, team.sdk("maint") as maint:
        first = dev.request_alias_change("churn", "production", 2, comment="new model")
        with pytest.raises(PermissionDenied) as denied:
            dev.reject_alias_request(first.id, comment="no")
        assert denied.value.details["permission"] == "registry.approve"
        rejected = maint.reject_alias_request(first.id, comment="AUC dropped on the holdout")
        assert (rejected.status.value, rejected.decision_comment) == ("rejected", "AUC dropped on the holdout")
        with pytest.raises(Conflict):
            maint.approve_alias_request(first.id, comment="changed my mind")
        second = dev.request_alias_change("churn", "production", None, comment="retire it")
        assert (second.action, second.to_version) == ("delete", None)
        with pytest.raises(PermissionDenied) as not_mine:
            maint.cancel_alias_request(second.id)
        assert not_mine.value.details["reason"] == "not_requester"
        cancelled = dev.cancel_alias_request(second.id, comment="wrong model")
        assert (cancelled.status.value, cancelled.decided_by, cancelled.decision_comment) == (
            "cancelled",
            "dev",
            "wrong model",
        )
        assert dev.get_alias_request(second.id) == cancelled
    assert team.production() == 1
    actions = sorted(e["action"] for e in team.events("alias_request"))
    assert actions == [
        "alias_request.cancel",
        "alias_request.create",
        "alias_request.create",
        "alias_request.reject",
    ]


def test_an_approved_removal_removes_the_alias(team: Team) -> None:
    rid = team.request("dev", None)["id"]
    check(team.decide("maint", rid, "approve", "decommissioned"), 200)
    check(team.http("dev").get(f"{MODEL}/aliases/production"), 404)
    removal = [e for e in team.events("registered_model") if e["action"] == "model_alias.delete"]
    assert removal[-1]["details"] == {"alias": "production", "from_version": 1, "approval": rid}


def test_one_pending_request_per_model_and_alias(team: Team) -> None:
    first = team.request("dev", 2)["id"]
    again = team.http("maint").post(
        f"{A}/alias-requests", json={"model": "churn", "alias": "production", "version": 3, "comment": "mine"}
    )
    error = check(again, 409)["error"]
    assert (error["details"]["reason"], error["details"]["id"]) == ("pending_request", first)
    check(team.http("dev").post(f"{A}/alias-requests/{first}/cancel"), 200)  # no body at all
    assert team.request("maint", 3)["from_version"] == 1


def test_requests_are_checked_when_made(team: Team) -> None:
    def ask(**body: Any) -> Any:
        base = {"model": "churn", "alias": "production", "version": 2, "comment": "please"}
        return team.http("dev").post(f"{A}/alias-requests", json=base | body)

    assert check(ask(alias="staging"), 409)["error"]["details"]["reason"] == "not_protected"
    assert check(ask(version=99), 404)["error"]["details"]["resource"] == "model_version"
    assert check(ask(model="ghost"), 404)["error"]["details"]["resource"] == "registered_model"
    assert check(ask(alias="v1"), 400)["error"]["details"]["field"] == "alias"
    assert check(ask(version=1), 409)["error"]["details"]["reason"] == "no_change"
    check(team.http("maint").put(f"{A}/protected-aliases/canary"), 200)
    assert check(ask(alias="canary", version=None), 404)["error"]["details"]["resource"] == "model_alias"
    check(ask(alias="canary"), 201)  # a protected alias that does not exist yet can be requested


def test_a_stale_request_is_refused_and_stays_pending(team: Team) -> None:
    to_two = team.request("dev", 2)["id"]
    check(team.http("admin").post(f"{MODEL}/versions/2/delete"), 200)
    error = check(team.decide("maint", to_two, "approve"), 409)["error"]
    assert error["details"]["reason"] == "stale"
    assert "version 2 of 'churn' has been deleted" in error["message"]
    assert check(team.http("dev").get(f"{A}/alias-requests/{to_two}"), 200)["status"] == "pending"
    check(team.decide("maint", to_two, "reject", "the version is gone"), 200)
    # The alias moved since the request was made (protection lifted meanwhile): stale too.
    to_three = team.request("dev", 3)["id"]
    check(team.http("maint").delete(f"{A}/protected-aliases/production"), 204)
    check(team.http("maint").put(f"{MODEL}/aliases/production", json={"version": 3}), 200)
    check(team.http("maint").put(f"{A}/protected-aliases/production"), 200)
    error = check(team.decide("maint2", to_three, "approve"), 409)["error"]
    assert error["details"]["reason"] == "stale"
    assert "pointed at version 1 when it was requested and now points at version 3" in error["message"]
    assert team.production() == 3


def test_listing_filters_and_pages(team: Team) -> None:
    check(team.http("maint").put(f"{A}/protected-aliases/canary"), 200)
    r1 = team.request("dev", 2)["id"]
    r2 = team.request("dev", 3, alias="canary")["id"]
    check(team.decide("maint", r1, "reject", "not yet"), 200)
    r3 = team.request("dev", 3)["id"]
    listing = team.http("dev")

    def ids(**params: Any) -> list[int]:
        reply = check(listing.get(f"{A}/alias-requests", params=params), 200)
        return [r["id"] for r in reply["requests"]]

    assert ids() == [r3, r2, r1]  # newest first
    assert ids(status="pending") == [r3, r2]
    assert ids(status="rejected") == [r1]
    assert ids(alias="canary") == [r2]
    assert ids(model="churn", status="pending", alias="production") == [r3]
    assert ids(model="ghost") == []
    bad = check(listing.get(f"{A}/alias-requests", params={"status": "done"}), 400)
    assert bad["error"]["details"]["field"] == "status"
    first = check(listing.get(f"{A}/alias-requests", params={"max_results": 2}), 200)
    assert [r["id"] for r in first["requests"]] == [r3, r2]
    rest = check(
        listing.get(f"{A}/alias-requests", params={"max_results": 2, "page_token": first["next_page_token"]}), 200
    )
    assert [r["id"] for r in rest["requests"]] == [r1]
    assert rest["next_page_token"] is None
    with team.sdk("dev") as sdk:
        assert [r.id for r in sdk.iter_alias_requests(status="pending")] == [r3, r2]
        assert [p.alias for p in sdk.list_protected_aliases()] == ["canary", "production"]


def test_a_maintainer_of_another_project_cannot_see_or_decide(team: Team) -> None:
    rid = team.request("dev", 2)["id"]
    outsider = team.http("maint-b")
    hidden = {"resource": "project", "name": "a"}
    for method, path in [
        ("POST", f"{A}/alias-requests/{rid}/approve"),
        ("POST", f"{A}/alias-requests/{rid}/reject"),
        ("POST", f"{A}/alias-requests/{rid}/cancel"),
        ("GET", f"{A}/alias-requests/{rid}"),
        ("GET", f"{A}/alias-requests"),
        ("PUT", f"{A}/protected-aliases/staging"),
        ("DELETE", f"{A}/protected-aliases/production"),
    ]:
        reply = outsider.request(method, path, json={"comment": "let me"} if method != "GET" else None)
        assert check(reply, 404)["error"]["details"] == hidden, (method, path)
    # Through the project they do belong to, a's request ids name nothing.
    b = "/api/v1/projects/b"
    for reply in (
        outsider.get(f"{b}/alias-requests/{rid}"),
        outsider.post(f"{b}/alias-requests/{rid}/approve", json={"comment": "let me"}),
    ):
        assert check(reply, 404)["error"]["details"] == {"resource": "alias_request", "id": rid}
    assert check(outsider.get(f"{b}/alias-requests"), 200)["requests"] == []
    assert team.production() == 1
    assert check(team.http("dev").get(f"{A}/alias-requests/{rid}"), 200)["status"] == "pending"


def test_the_database_also_holds_one_pending_request_per_alias(team: Team) -> None:
    """Belt and braces under the service's lock: a partial unique index on both databases."""
    first = team.request("dev", 2)
    db = Database(team.world.settings.database_url)
    try:
        with db.session(readonly=True) as session:
            model = session.scalars(select(RegisteredModel).where(RegisteredModel.name == "churn")).one()
            project_id, model_id = model.project_id, model.id
        sneaky = AliasChangeRequest(
            project_id=project_id,
            model_id=model_id,
            alias="production",
            from_version=1,
            to_version=3,
            requested_by="sneaky",
            comment="behind the service's back",
            status="pending",
        )
        with pytest.raises(Conflict):
            _insert(db, sneaky)
        with db.session() as session:  # decided requests do not count
            session.execute(
                update(AliasChangeRequest).where(AliasChangeRequest.id == first["id"]).values(status="cancelled")
            )
    finally:
        db.dispose()
    assert team.request("maint", 3)["status"] == "pending"


def _insert(db: Database, row: AliasChangeRequest) -> None:
    with db.session() as session:
        session.add(row)
