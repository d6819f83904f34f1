"""The approval workflow from the CLI, in local mode: the OS user is the actor, so four
eyes means a second OS user (here: ``local_user`` patched between commands)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from shipyard.cli.main import app
from shipyard.client import Client
from shipyard.models import save_model
from shipyard.settings import Settings


@pytest.fixture
def churn(settings: Settings, iris_model: tuple[Any, Any], tmp_path: Path) -> None:
    """``churn`` versions 1 and 2, ``@production`` on 1."""
    model, frame = iris_model
    save_model(model, tmp_path / "model", input_example=frame.head(2))
    with Client(settings=settings) as client:
        run = client.create_run(name="train")
        client.log_artifacts(run.id, tmp_path / "model", artifact_path="model")
        for _ in range(2):
            client.register_model(f"runs:/{run.id}/model", "churn")
        client.set_alias("churn", "production", 1)


def test_protect_request_approve_from_the_cli(
    runner: CliRunner, cli_args: list[str], churn: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def as_user(name: str, *args: str) -> Result:
        monkeypatch.setattr("shipyard.server.app.local_user", lambda: name)
        return runner.invoke(app, [*cli_args, "models", *args], catch_exceptions=False)

    protected = as_user("ana", "protect", "production")
    assert protected.exit_code == 0, protected.output
    assert "@production is protected" in protected.output
    listed = json.loads(as_user("ana", "protected", "--json").output)
    assert [a["alias"] for a in listed["aliases"]] == ["production"]

    direct = as_user("ana", "set-alias", "churn", "production", "2")
    assert direct.exit_code == 4
    assert "@production is protected" in direct.output
    assert "fix: shipyard models request-alias churn production 2 --comment" in direct.output

    assert as_user("ana", "request-alias", "churn", "production", "2").exit_code == 2  # no comment
    both = as_user("ana", "request-alias", "churn", "production", "2", "--delete", "-m", "x")
    assert both.exit_code == 2
    assert "either VERSION or --delete" in both.output
    made = as_user("ana", "request-alias", "churn", "production", "2", "--comment", "retrained", "--json")
    assert made.exit_code == 0, made.output
    request = json.loads(made.output)
    rid = str(request["id"])
    assert (request["requested_by"], request["status"]) == ("ana", "pending")

    own = as_user("ana", "approve", rid, "--comment", "fine by me")
    assert own.exit_code == 4
    assert "four eyes" in own.output
    monkeypatch.setenv("COLUMNS", "160")
    table = as_user("bob", "requests", "--status", "pending")
    assert "churn@production v1 → v2" in table.output, table.output
    assert as_user("bob", "approve", rid).exit_code == 2  # no comment
    approved = as_user("bob", "approve", rid, "-m", "eval report checked", "--json")
    assert approved.exit_code == 0, approved.output
    assert json.loads(approved.output)["decided_by"] == "bob"
    shown = as_user("ana", "show-request", rid)
    assert "approved" in shown.output
    assert "eval report checked" in shown.output
    history = json.loads(as_user("ana", "alias-history", "churn", "--alias", "production", "--json").output)
    assert history["changes"][-1] | {"at": None} == {
        "alias": "production",
        "from_version": 1,
        "to_version": 2,
        "actor": "bob",
        "at": None,
    }

    removal = json.loads(as_user("ana", "request-alias", "churn", "production", "--delete", "-m", "x", "--json").output)
    rejected = as_user("bob", "reject", str(removal["id"]), "-m", "still serving traffic", "--json")
    assert json.loads(rejected.output)["status"] == "rejected"
    again = json.loads(as_user("ana", "request-alias", "churn", "production", "1", "-m", "roll back", "--json").output)
    assert as_user("bob", "cancel-request", str(again["id"])).exit_code == 8  # only the requester
    cancelled = as_user("ana", "cancel-request", str(again["id"]), "--json")
    assert json.loads(cancelled.output)["status"] == "cancelled"
    statuses = [r["status"] for r in json.loads(as_user("ana", "requests", "--json").output)["requests"]]
    assert statuses == ["cancelled", "rejected", "approved"]

    unprotected = as_user("ana", "unprotect", "production", "--json")
    assert json.loads(unprotected.output) == {"alias": "production", "protected": False}
    assert as_user("ana", "set-alias", "churn", "production", "1").exit_code == 0
