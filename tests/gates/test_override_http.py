"""Overrides and approvals of a gated alias through a real server with authentication on.

Project ``a``: ``dev`` (developer), ``maint`` and ``maint2`` (maintainers), ``admin``. ``cancer``
v1 (medium) holds ``@production``; v2 is the weak model, evaluated against it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard.client import Client
from shipyard.demo.background_server import serve_in_thread
from shipyard.server.app import create_app
from shipyard.settings import Settings
from tests.auth.conftest import World, check
from tests.conftest import bootstrap_admin
from tests.gates.conftest import MODEL, Registry
from tests.registry.test_approvals import Team

A = "/api/v1/projects/a"
M = f"{A}/models/{MODEL}"
POLICY = "auc >= baseline.auc - 0.005\nartifact format in [skops, onnx, xgboost-json]"


@pytest.fixture
def team(settings: Settings, cancer: dict[str, Any], tmp_path: Path) -> Iterator[Team]:
    admin = bootstrap_admin(settings)
    with serve_in_thread(create_app(settings)) as url:
        world = World(url, settings, admin)
        try:
            world.project("a")
            tokens = {
                "admin": admin,
                "dev": world.user("dev", bindings={"a": "developer"}),
                "maint": world.user("maint", bindings={"a": "maintainer"}),
                "maint2": world.user("maint2", bindings={"a": "maintainer"}),
            }
            with Client(url, settings=settings, token=tokens["dev"], project="a") as dev:
                registry = Registry(dev, tmp_path, cancer)
                with Client(url, settings=settings, token=admin, project="a") as sdk:
                    first = Registry(sdk, tmp_path, cancer).register("medium")
                    sdk.set_alias(MODEL, "production", first)
                    weak = Registry(sdk, tmp_path, cancer).register("weak")
                registry.evaluate(weak, latency_requests=0)  # a developer may evaluate (registry.write)
            yield Team(world, tokens)
        finally:
            world.close()


def test_a_developer_cannot_gate_or_override(team: Team) -> None:
    assert check(team.http("dev").put(f"{M}/gates/production", json={"text": POLICY}), 403)
    check(team.http("maint").put(f"{M}/gates/production", json={"text": POLICY}), 200)
    body = {"alias": "production", "justification": "we accept the small AUC loss for the speed-up"}
    error = check(team.http("dev").post(f"{M}/versions/2/gate-overrides", json=body), 403)["error"]
    assert error["code"] == "PERMISSION_DENIED"
    refused = check(team.http("dev").put(f"{M}/aliases/production", json={"version": 2}), 412)["error"]
    assert refused["code"] == "PRECONDITION_FAILED"
    assert refused["details"]["failing_rules"] == ["auc >= baseline.auc - 0.005"]
    assert "shipyard gates override cancer 2" in refused["details"]["fix"]


def test_a_maintainer_overrides_with_a_justification_and_it_is_audited(team: Team) -> None:
    check(team.http("maint").put(f"{M}/gates/production", json={"text": POLICY}), 200)
    short = check(
        team.http("maint").post(f"{M}/versions/2/gate-overrides", json={"alias": "production", "justification": "ok"}),
        400,
    )
    assert short["error"]["details"]["field"] == "justification"
    why = "smaller model; the AUC loss is within what the business signed off on"
    verdict = check(
        team.http("maint").post(f"{M}/versions/2/gate-overrides", json={"alias": "production", "justification": why}),
        200,
    )
    assert (verdict["passed"], verdict["overridden"], verdict["overridden_by"]) == (False, True, "maint")
    check(team.http("dev").put(f"{M}/aliases/production", json={"version": 2}), 200)
    gate_events = {e["action"]: e for e in team.events("gate")}
    assert gate_events["gate.override"]["actor"] == "maint"
    assert gate_events["gate.override"]["details"]["justification"] == why
    assert gate_events["gate.override"]["details"]["failing"] == ["auc >= baseline.auc - 0.005"]
    moves = [e for e in team.events("registered_model") if e["action"] == "model_alias.set"]
    assert moves[-1]["details"]["gate"]["overridden_by"] == "maint"
    assert check(team.http("admin").get("/api/v1/audit/verify"), 200)["ok"] is True


def test_approving_a_protected_gated_alias_must_pass_the_gate(team: Team) -> None:
    check(team.http("maint").put(f"{M}/gates/production", json={"text": POLICY}), 200)
    check(team.http("maint").put(f"{A}/protected-aliases/production"), 200)
    body = {"model": MODEL, "alias": "production", "version": 2, "comment": "ship the small one"}
    rid = check(team.http("dev").post(f"{A}/alias-requests", json=body), 201)["id"]
    refused = check(team.http("maint").post(f"{A}/alias-requests/{rid}/approve", json={"comment": "ok"}), 412)
    assert refused["error"]["details"]["failing_rules"] == ["auc >= baseline.auc - 0.005"]
    assert check(team.http("dev").get(f"{A}/alias-requests/{rid}"), 200)["status"] == "pending"
    why = "accepted by the risk board, ticket RISK-42"
    override = {"alias": "production", "justification": why}
    check(team.http("maint2").post(f"{M}/versions/2/gate-overrides", json=override), 200)
    check(team.http("maint").post(f"{A}/alias-requests/{rid}/approve", json={"comment": "ok"}), 200)
    assert check(team.http("dev").get(f"{M}/aliases/production"), 200)["version"] == 2
