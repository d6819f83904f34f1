"""Tenancy: a user bound in project A gets nothing from project B, by any route, and
cannot tell B's objects from missing ones. Denials are recorded where B's admins see them."""

from __future__ import annotations

import hashlib

import pytest

from tests.auth.conftest import World, check

NOT_FOUND_B = {"resource": "project", "name": "b"}


@pytest.fixture
def tenants(world: World) -> dict[str, str]:
    """Projects a and b, each with an experiment, a run with a metric, a model and a blob;
    returns the ids of b's objects and the token of a developer of a."""
    ids: dict[str, str] = {}
    admin = world.admin
    for project in ("a", "b"):
        world.project(project)
        base = f"/api/v1/projects/{project}"
        exp = check(admin.post(f"{base}/experiments", json={"name": f"exp-{project}"}), 201)
        run = check(admin.post(f"{base}/runs", json={"experiment_id": exp["id"]}), 201)
        batch = {"metrics": [{"key": "auc", "value": 0.9, "step": 0, "timestamp": 1}]}
        check(admin.post(f"{base}/runs/{run['id']}/log-batch", json=batch), 200)
        check(admin.post(f"{base}/models", json={"name": f"model-{project}"}), 201)
        data = f"secret data of {project}".encode()
        check(admin.put(f"{base}/blobs/{hashlib.sha256(data).hexdigest()}", content=data), 201)
        ids[f"{project}_run"] = run["id"]
        ids[f"{project}_exp"] = str(exp["id"])
        ids[f"{project}_blob"] = hashlib.sha256(data).hexdigest()
    ids["dev"] = world.user("dev-a", bindings={"a": "developer"})
    ids["auditor"] = world.user("aud", org_role="auditor")
    return ids


def test_a_member_of_a_gets_nothing_from_b(world: World, tenants: dict[str, str]) -> None:
    dev = world.http(tenants["dev"])
    b = "/api/v1/projects/b"
    run, exp, blob = tenants["b_run"], tenants["b_exp"], tenants["b_blob"]
    attempts = [
        ("GET", b, None),
        ("PATCH", b, {"description": "mine now"}),
        ("GET", f"{b}/events", None),
        ("GET", f"{b}/members", None),
        ("GET", f"{b}/blobs", None),
        ("GET", f"{b}/blobs/{blob}", None),
        ("GET", f"{b}/blobs/{blob}/info", None),
        ("GET", f"{b}/experiments", None),
        ("GET", f"{b}/experiments/{exp}", None),
        ("POST", f"{b}/experiments", {"name": "intruder"}),
        ("POST", f"{b}/runs/search", {}),
        ("GET", f"{b}/runs/{run}", None),
        ("GET", f"{b}/runs/{run}/metrics/auc/history", None),
        ("POST", f"{b}/runs/{run}/log-batch", {"metrics": [{"key": "x", "value": 1, "step": 0, "timestamp": 1}]}),
        ("POST", f"{b}/runs/compare", {"run_ids": [run]}),
        ("GET", f"{b}/models", None),
        ("GET", f"{b}/models/model-b", None),
        ("POST", f"{b}/models", {"name": "planted"}),
        ("PUT", f"{b}/members/dev-a", {"role": "admin"}),
    ]
    for method, path, body in attempts:
        reply = dev.request(method, path, json=body)
        assert reply.status_code == 404, f"{method} {path}: {reply.status_code} {reply.text}"
        assert reply.json()["error"]["details"] == NOT_FOUND_B, f"{method} {path}: {reply.text}"
    upload = dev.put(f"{b}/blobs/{hashlib.sha256(b'x').hexdigest()}", content=b"x")
    assert upload.status_code == 404
    # b's hidden answers are exactly a missing project's
    ghost = dev.get("/api/v1/projects/ghost")
    assert ghost.status_code == 404
    assert ghost.json()["error"]["message"].replace("ghost", "b") == dev.get(b).json()["error"]["message"]


def test_lists_and_ids_stay_inside_the_callers_projects(world: World, tenants: dict[str, str]) -> None:
    dev = world.http(tenants["dev"])
    listed = check(dev.get("/api/v1/projects"), 200)
    assert [p["name"] for p in listed["projects"]] == ["a"]
    # b's run id through a's path: another project's object is simply not there
    assert dev.get(f"/api/v1/projects/a/runs/{tenants['b_run']}").status_code == 404
    assert dev.get(f"/api/v1/projects/a/blobs/{tenants['b_blob']}").status_code == 404
    searched = check(dev.post("/api/v1/projects/a/runs/search", json={}), 200)
    assert {r["id"] for r in searched["runs"]} == {tenants["a_run"]}
    models = check(dev.get("/api/v1/projects/a/models"), 200)
    assert [m["name"] for m in models["models"]] == ["model-a"]
    blobs = check(dev.get("/api/v1/projects/a/blobs"), 200)
    assert [x["digest"] for x in blobs["blobs"]] == [tenants["a_blob"]]
    # ...and events are not readable by a developer at all (audit.read)
    denied = dev.get("/api/v1/projects/a/events")
    assert denied.status_code == 403
    assert denied.json()["error"]["details"] == {"permission": "audit.read", "project": "a"}


def test_auditor_reads_everything_and_changes_nothing(world: World, tenants: dict[str, str]) -> None:
    auditor = world.http(tenants["auditor"])
    assert [p["name"] for p in check(auditor.get("/api/v1/projects"), 200)["projects"]] == ["a", "b", "default"]
    check(auditor.get(f"/api/v1/projects/b/runs/{tenants['b_run']}"), 200)
    check(auditor.get("/api/v1/projects/b/events"), 200)
    check(auditor.get("/api/v1/users"), 200)
    denied = auditor.post("/api/v1/projects/b/experiments", json={"name": "x"})
    assert denied.status_code == 403
    assert denied.json()["error"]["details"] == {"permission": "tracking.write", "project": "b"}


def test_denials_are_recorded_with_actor_and_source(world: World, tenants: dict[str, str]) -> None:
    dev = world.http(tenants["dev"])
    reply = dev.get("/api/v1/projects/b/runs", headers={"X-Request-ID": "probe-1"})  # 405 before auth
    assert reply.status_code == 405
    dev.get(f"/api/v1/projects/b/runs/{tenants['b_run']}", headers={"X-Request-ID": "probe-2"})
    dev.post("/api/v1/projects/a/events", headers={"X-Request-ID": "probe-3"})  # 405
    dev.get("/api/v1/projects/a/events", headers={"X-Request-ID": "probe-4"})
    events_b = check(world.admin.get("/api/v1/projects/b/events", params={"object_type": "permission"}), 200)
    denied_b = [e for e in events_b["events"] if e["action"] == "access.denied"]
    assert [e["request_id"] for e in denied_b] == ["probe-2"]
    event = denied_b[0]
    assert event["actor"] == "dev-a"
    assert event["object_id"] == "tracking.read"
    assert event["details"]["source"] == "127.0.0.1"
    assert event["details"]["path"] == f"/api/v1/projects/b/runs/{tenants['b_run']}"
    assert event["details"]["answered"] == "not_found"
    events_a = check(world.admin.get("/api/v1/projects/a/events", params={"object_type": "permission"}), 200)
    assert [(e["request_id"], e["details"]["answered"]) for e in events_a["events"]] == [
        ("probe-4", "permission_denied")
    ]


def test_events_carry_the_authenticated_actor(world: World, tenants: dict[str, str]) -> None:
    dev = world.http(tenants["dev"])
    check(dev.post("/api/v1/projects/a/experiments", json={"name": "by-dev"}), 201)
    events = check(world.admin.get("/api/v1/projects/a/events", params={"object_type": "experiment"}), 200)
    actors = {e["details"].get("name"): e["actor"] for e in events["events"] if e["action"] == "experiment.create"}
    assert actors == {"exp-a": "admin", "by-dev": "dev-a"}
