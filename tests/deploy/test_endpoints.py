"""Endpoints through the SDK (local mode and a real server, SQLite and PostgreSQL) and the CLI."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shipyard.cli.main import app as cli
from shipyard.client import Client
from shipyard.errors import Conflict, InvalidArgument, NotFound, ValidationFailed

CANARY = {
    "type": "canary",
    "steps": [{"set_weight": 10}, {"pause": {}}, {"set_weight": 50}, {"pause": {"duration": "1h"}}],
}


def spec(version: int = 1, **extra: Any) -> dict[str, Any]:
    return {"name": "iris", "routes": [{"model": "iris", "version": version, "weight": 100}], **extra}


def traffic(client: Client) -> list[tuple[str, float]]:
    return [(f"{s.model}/{s.version}", s.weight) for s in client.get_endpoint("iris").traffic]


def test_apply_is_idempotent_and_shows_its_diff(iris_versions: Client) -> None:
    c = iris_versions
    dry = c.apply_endpoint(spec(), dry_run=True)
    assert (dry.outcome, dry.endpoint) == ("created", None)
    assert "routes" in [ch.path for ch in dry.changes]
    with pytest.raises(NotFound):
        c.get_endpoint("iris")
    created = c.apply_endpoint(spec())
    assert created.outcome == "created"
    assert created.endpoint is not None
    assert (created.endpoint.revision, created.endpoint.phase) == (1, "Healthy")
    assert traffic(c) == [("iris/1", 100.0)]
    again = c.apply_endpoint(spec())
    assert (again.outcome, again.changes) == ("unchanged", [])
    assert c.get_endpoint("iris").revision == 1
    changed = c.apply_endpoint(spec(replicas={"min": 2, "max": 4}), dry_run=True)
    assert changed.outcome == "updated"
    assert [(ch.op, ch.path, ch.old, ch.new) for ch in changed.changes] == [
        ("change", "replicas.min", 1, 2),
        ("change", "replicas.max", 1, 4),
    ]
    assert c.get_endpoint("iris").spec.replicas.min == 1  # a dry run changes nothing
    assert [e.name for e in c.iter_endpoints()] == ["iris"]


def test_a_direct_change_switches_at_once(iris_versions: Client) -> None:
    c = iris_versions
    c.apply_endpoint(spec(1))
    result = c.apply_endpoint(spec(2))
    assert [(ch.op, ch.path) for ch in result.changes] == [("add", "routes[iris/2]"), ("remove", "routes[iris/1]")]
    assert result.endpoint is not None
    assert result.endpoint.phase == "Healthy"
    assert traffic(c) == [("iris/2", 100.0)]
    assert result.endpoint.rollout is not None
    assert "direct switch from iris/1 100% to iris/2 100%" in result.endpoint.rollout.message


def test_a_canary_rollout_is_promoted_step_by_step_and_recorded(iris_versions: Client) -> None:
    c = iris_versions
    c.apply_endpoint(spec(1))
    started = c.apply_endpoint(spec(2, strategy=CANARY))
    assert started.endpoint is not None
    assert started.endpoint.phase == "Progressing"
    assert traffic(c) == [("iris/1", 100.0)]  # weight 0 until the controller (or a person) moves it
    paused = c.promote_endpoint("iris")
    assert paused.phase == "Paused"
    assert traffic(c) == [("iris/1", 50.0), ("iris/2", 50.0)]
    done = c.promote_endpoint("iris", full=True)
    assert done.phase == "Healthy"
    assert traffic(c) == [("iris/2", 100.0)]
    with pytest.raises(Conflict, match="no rollout in progress"):
        c.promote_endpoint("iris")
    (latest, first) = c.endpoint_history("iris").items
    assert (latest.revision, latest.kind, latest.strategy, latest.phase) == (2, "apply", "canary", "Promoted")
    steps = [(t.from_phase, t.to_phase, t.weight) for t in latest.transitions]
    assert steps[0] == (None, "Progressing", 0.0)
    assert ("Progressing", "Paused", 10.0) in steps
    assert steps[-1] == ("Paused", "Promoted", 100.0)
    assert all(t.reason for t in latest.transitions)
    assert first.kind == "create"
    actions = [e.action for e in c.list_events(object_type="endpoint", object_id="iris", max_results=100).items]
    assert actions[:2] == ["endpoint.create", "endpoint.transition"]
    assert "endpoint.apply" in actions
    assert actions.count("endpoint.transition") == sum(len(r.transitions) for r in (latest, first))


def test_rollback_aborts_a_running_rollout_in_one_call(iris_versions: Client) -> None:
    c = iris_versions
    c.apply_endpoint(spec(1))
    c.apply_endpoint(spec(2, strategy=CANARY))
    c.promote_endpoint("iris")
    begin = time.perf_counter()
    rolled = c.rollback_endpoint("iris", reason="p99 doubled")
    assert time.perf_counter() - begin < 5  # generous: the benchmark is the place for timings
    assert rolled.phase == "Degraded"
    assert traffic(c) == [("iris/1", 100.0)]
    assert rolled.rollout is not None
    assert rolled.rollout.message.endswith("p99 doubled")
    with pytest.raises(Conflict, match="already aborted"):
        c.rollback_endpoint("iris")
    retried = c.apply_endpoint(spec(2, strategy=CANARY))  # the same spec again retries it
    assert (retried.outcome, retried.changes) == ("retried", [])
    assert retried.endpoint is not None
    assert retried.endpoint.rollout is not None
    assert (retried.endpoint.revision, retried.endpoint.rollout.kind) == (3, "retry")


def test_rollback_without_a_rollout_returns_to_the_previous_stable_routes(iris_versions: Client) -> None:
    c = iris_versions
    c.apply_endpoint(spec(1))
    with pytest.raises(Conflict, match="nothing to roll back to"):
        c.rollback_endpoint("iris")
    c.apply_endpoint(spec(2, replicas={"min": 2, "max": 2}))
    c.apply_endpoint(spec(2, replicas={"min": 3, "max": 3}))  # same routes: not a traffic change
    rolled = c.rollback_endpoint("iris")
    assert rolled.phase == "Healthy"
    assert traffic(c) == [("iris/1", 100.0)]
    assert rolled.spec.routes[0].version == 1
    assert rolled.spec.replicas.min == 1  # the whole spec of revision 1
    assert rolled.rollout is not None
    assert rolled.rollout.kind == "rollback"
    assert "back to revision 1" in rolled.rollout.message
    # the file applied before is a change again: applying it rolls forward
    assert c.apply_endpoint(spec(2, replicas={"min": 3, "max": 3})).outcome == "updated"


def test_a_newer_revision_supersedes_a_running_rollout(iris_versions: Client) -> None:
    c = iris_versions
    c.apply_endpoint(spec(1))
    c.apply_endpoint(spec(2, strategy=CANARY))
    c.promote_endpoint("iris")
    c.apply_endpoint(spec(3, strategy=CANARY))
    latest, superseded, _ = c.endpoint_history("iris").items
    assert superseded.phase == "Superseded"
    assert superseded.message == "revision 3 applied"
    assert latest.from_routes[0].version == 1  # starts again from the stable routes
    assert traffic(c) == [("iris/1", 100.0)]


def test_versions_must_exist_and_the_error_names_the_field(iris_versions: Client) -> None:
    c = iris_versions
    with pytest.raises(InvalidArgument, match=r"routes\.0: registered model 'iris' has no version 9") as info:
        c.apply_endpoint(spec(9))
    assert info.value.details["field"] == "routes.0"
    with pytest.raises(InvalidArgument, match=r"shadow\.0"):
        c.apply_endpoint(spec(1, shadow=[{"model": "nope", "version": 1}]))
    with pytest.raises(ValidationFailed, match="routes: Value error, the routes' weights must sum to 100"):
        c.apply_endpoint({"name": "iris", "routes": [{"model": "iris", "version": 1, "weight": 5}]})
    with pytest.raises(InvalidArgument, match="project"):
        c.apply_endpoint(spec(1, project="elsewhere"), project="default")


def test_the_rest_api_names_the_bad_field(remote: Client) -> None:
    response = remote._http.put(
        "/api/v1/projects/default/endpoints/iris",
        json={"name": "iris", "routes": [{"model": "iris", "version": 1, "weight": 101}]},
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"]["fields"][0]["field"] == "body.routes.0.weight"
    response = remote._http.put("/api/v1/projects/default/endpoints/other", json=spec())
    assert response.status_code == 400
    assert response.json()["error"]["details"]["field"] == "name"


def test_the_cli_applies_lists_shows_and_rolls_back(
    iris_versions: Client, runner: CliRunner, cli_args: list[str], tmp_path: Path
) -> None:
    if not iris_versions.is_local:
        pytest.skip("the CLI runs in local mode here")
    file = tmp_path / "endpoint.yaml"
    file.write_text("name: iris\nroutes:\n  - {model: iris, version: 1, weight: 100}\n")
    dry = runner.invoke(cli, [*cli_args, "endpoints", "apply", "-f", str(file), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "+ routes:" in dry.output
    assert "nothing applied" in dry.output
    applied = runner.invoke(cli, [*cli_args, "endpoints", "apply", "-f", str(file)])
    assert applied.exit_code == 0, applied.output
    assert "created revision 1: Promoted" in applied.output
    same = runner.invoke(cli, [*cli_args, "endpoints", "apply", "-f", str(file)])
    assert "unchanged" in same.output
    file.write_text(
        "name: iris\nroutes:\n  - {model: iris, version: 2, weight: 100}\n"
        "strategy: {type: canary, steps: [{set_weight: 20}, {pause: {}}, {set_weight: 60}, {pause: {}}]}\n"
    )
    moved = runner.invoke(cli, [*cli_args, "endpoints", "apply", "-f", str(file), "--json"])
    assert moved.exit_code == 0, moved.output
    assert json.loads(moved.output)["outcome"] == "updated"
    listed = runner.invoke(cli, [*cli_args, "endpoints", "list"])
    assert "iris" in listed.output
    assert "Progressing" in listed.output
    shown = runner.invoke(cli, [*cli_args, "endpoints", "get", "iris"])
    assert "canary" in shown.output
    promoted = runner.invoke(cli, [*cli_args, "endpoints", "promote", "iris"])
    assert "iris/1 40%, iris/2 60%" in promoted.output
    rolled = runner.invoke(cli, [*cli_args, "endpoints", "rollback", "iris", "-m", "errors"])
    assert rolled.exit_code == 0, rolled.output
    assert "traffic iris/1 100%" in rolled.output
    history = runner.invoke(cli, [*cli_args, "endpoints", "history", "iris", "--transitions"])
    assert "Aborted" in history.output
    assert "errors" in history.output
    file.write_text("name: iris\nroutes:\n  - {model: iris, version: 2, weight: 50}\n")
    bad = runner.invoke(cli, [*cli_args, "endpoints", "apply", "-f", str(file)])
    assert bad.exit_code == 2
    assert "routes" in bad.output
    assert "sum to 50" in bad.output
