"""The CLI: bootstrap straight against the database, then identity through a server."""

from __future__ import annotations

import json
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from shipyard.cli.main import app


def run(runner: CliRunner, args: list[str], env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, args, catch_exceptions=False, env=env)


def as_json(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_admin_create_user_is_the_bootstrap(runner: CliRunner, cli_args: list[str], server_url: str) -> None:
    created = as_json(run(runner, [*cli_args, "admin", "create-user", "root", "--admin", "--json"]))
    assert created["user"]["name"] == "root"
    assert created["user"]["org_role"] == "org_admin"
    token = created["token"]["token"]
    assert token.startswith(f"sy_{created['token']['prefix']}_")
    again = run(runner, [*cli_args, "admin", "create-user", "root", "--admin"])
    assert again.exit_code == 4
    assert "taken" in again.output
    me = as_json(run(runner, ["--server-url", server_url, "--token", token, "whoami", "--json"]))
    assert (me["name"], me["org_roles"]) == ("root", ["org_admin"])
    table = run(runner, [*cli_args, "admin", "create-user", "plain"])
    assert table.exit_code == 0, table.output
    assert "shown once" in table.output
    assert "sy_" in table.stdout
    both = run(runner, [*cli_args, "admin", "create-user", "x", "--admin", "--auditor"])
    assert both.exit_code == 2
    fresh = as_json(run(runner, [*cli_args, "admin", "create-token", "plain", "--name", "lost-it", "--json"]))
    assert fresh["name"] == "lost-it"
    assert fresh["principal"] == "plain"
    assert run(runner, [*cli_args, "admin", "create-token", "nobody"]).exit_code == 3


def test_tokens_users_and_members_over_a_server(
    runner: CliRunner, server_url: str, admin_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPYARD_CLIENT_TOKEN", admin_token)
    base = ["--server-url", server_url]
    user = as_json(run(runner, [*base, "users", "create", "kim", "--json"]))
    assert user["kind"] == "user"
    sa = as_json(run(runner, [*base, "service-accounts", "create", "ci", "--description", "CI", "--json"]))
    assert sa["kind"] == "service_account"
    listed = as_json(run(runner, [*base, "service-accounts", "list", "--json"]))
    assert [p["name"] for p in listed["principals"]] == ["ci"]
    member = as_json(run(runner, [*base, "members", "add", "ci", "--role", "runner", "--json"]))
    assert member["role"] == "runner"
    as_json(run(runner, [*base, "members", "add", "kim", "--role", "viewer", "--json"]))
    members = as_json(run(runner, [*base, "members", "list", "--json"]))
    assert {(m["principal"], m["role"]) for m in members["members"]} == {("ci", "runner"), ("kim", "viewer")}
    issued = as_json(
        run(runner, [*base, "tokens", "create", "build", "--principal", "ci", "--scope", "tracking.write", "--json"])
    )
    secret = issued["token"]
    assert issued["scopes"] == ["tracking.write"]
    listing = run(runner, [*base, "tokens", "list", "--principal", "ci", "--json"])
    assert secret.split("_", 2)[2] not in listing.stdout
    assert [t["prefix"] for t in as_json(listing)["tokens"]] == [issued["prefix"]]
    table = run(runner, [*base, "tokens", "list", "--principal", "ci"])
    assert issued["prefix"] in table.stdout
    me = as_json(run(runner, [*base, "whoami", "--json"], env={"SHIPYARD_CLIENT_TOKEN": secret}))
    assert me["name"] == "ci"
    assert me["memberships"] == [{"project": "default", "role": "runner", "via": "binding"}]
    # the service account may log runs but not read the registry
    denied = run(runner, [*base, "models", "list"], env={"SHIPYARD_CLIENT_TOKEN": secret})
    assert denied.exit_code == 8
    assert "registry.read" in denied.output
    revoked = as_json(run(runner, [*base, "tokens", "revoke", issued["prefix"], "--principal", "ci", "--json"]))
    assert revoked["status"] == "revoked"
    gone = run(runner, [*base, "whoami"], env={"SHIPYARD_CLIENT_TOKEN": secret})
    assert gone.exit_code == 8
    assert "revoked" in gone.output
    removed = as_json(run(runner, [*base, "members", "remove", "kim", "--json"]))
    assert removed == {"removed": "kim", "project": "default"}
    disabled = as_json(run(runner, [*base, "users", "update", "kim", "--disable", "--org-role", "auditor", "--json"]))
    assert disabled["disabled_at"] is not None
    assert disabled["org_role"] == "auditor"
    mine = as_json(run(runner, [*base, "tokens", "create", "laptop", "--expires-in-days", "3", "--json"]))
    assert mine["principal"] == "admin"


def test_no_token_is_exit_code_8(runner: CliRunner, server_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHIPYARD_CLIENT_TOKEN", raising=False)
    result = run(runner, ["--server-url", server_url, "projects", "list"])
    assert result.exit_code == 8
    assert "authentication required" in result.output
    bad = run(runner, ["--server-url", server_url, "--token", "sy_nope", "projects", "list"])
    assert bad.exit_code == 8
    assert "sy_nope" not in bad.output


def test_local_mode_commands_need_no_token(runner: CliRunner, cli_args: list[str]) -> None:
    me = as_json(run(runner, [*cli_args, "whoami", "--json"]))
    assert me["via"] == "local"
    as_json(run(runner, [*cli_args, "service-accounts", "create", "bot", "--json"]))
    issued = as_json(run(runner, [*cli_args, "tokens", "create", "t", "--principal", "bot", "--json"]))
    assert issued["principal"] == "bot"
    own = run(runner, [*cli_args, "tokens", "create", "t"])
    assert own.exit_code == 2
    assert "--principal" in own.output


def test_server_prints_the_bootstrap_hint_when_there_are_no_users(
    runner: CliRunner, cli_args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **_: started.append(app))
    result = run(runner, [*cli_args, "server", "--port", "18999"])
    assert result.exit_code == 0, result.output
    assert "shipyard admin create-user NAME --admin" in result.stderr
    assert len(started) == 1
    run(runner, [*cli_args, "admin", "create-user", "first", "--admin"])
    again = run(runner, [*cli_args, "server", "--port", "18999"])
    assert "create-user" not in again.stderr
    for built in started:  # uvicorn would have run the lifespan that closes the database
        built.state.shipyard.db.dispose()
