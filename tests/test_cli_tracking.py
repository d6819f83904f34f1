"""CLI commands for experiments, runs and the registry."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from shipyard.cli.main import app
from shipyard.client import Client
from shipyard.models import save_model
from shipyard.settings import Settings


def run(runner: CliRunner, args: list[str]):
    return runner.invoke(app, args, catch_exceptions=False)


def test_experiments_commands(runner: CliRunner, cli_args: list[str]) -> None:
    created = run(runner, [*cli_args, "experiments", "create", "churn", "--json"])
    assert created.exit_code == 0, created.output
    exp_id = json.loads(created.output)["id"]
    listed = json.loads(run(runner, [*cli_args, "experiments", "list", "--json"]).output)
    assert [e["name"] for e in listed["experiments"]] == ["churn"]
    assert run(runner, [*cli_args, "experiments", "rename", str(exp_id), "churn2"]).exit_code == 0
    assert json.loads(run(runner, [*cli_args, "experiments", "show", "churn2", "--json"]).output)["id"] == exp_id
    assert run(runner, [*cli_args, "experiments", "archive", str(exp_id)]).exit_code == 0
    archived = json.loads(run(runner, [*cli_args, "experiments", "list", "--view", "archived", "--json"]).output)
    assert [e["id"] for e in archived["experiments"]] == [exp_id]
    missing = run(runner, [*cli_args, "experiments", "show", "nope"])
    assert missing.exit_code == 3


def test_runs_and_registry_commands(
    runner: CliRunner, cli_args: list[str], settings: Settings, iris_model, tmp_path: Path
) -> None:
    model, _frame = iris_model
    with Client(settings=settings) as client:
        a = client.create_run(name="a")
        b = client.create_run(name="b")
        client.log_batch(a.id, params={"C": "1"}, metrics=[("acc", 0.9, 0, None)])
        client.log_batch(b.id, params={"C": "2"}, metrics=[("acc", 0.8, 0, None)])
        save_model(model, tmp_path / "m")
        client.log_artifacts(a.id, tmp_path / "m", artifact_path="model")
    found = json.loads(
        run(
            runner, [*cli_args, "runs", "search", "-f", "metrics.acc > 0.85", "-o", "metrics.acc DESC", "--json"]
        ).output
    )
    assert [r["name"] for r in found["runs"]] == ["a"]
    table = run(runner, [*cli_args, "runs", "search", "-o", "metrics.acc DESC"])
    assert table.output.index(a.id) < table.output.index(b.id)
    bad = run(runner, [*cli_args, "runs", "search", "-f", "metrics.acc >"])
    assert bad.exit_code == 2
    assert "column" in bad.output
    shown = run(runner, [*cli_args, "runs", "show", a.id])
    assert "acc" in shown.output
    assert "0.9" in shown.output
    compared = run(runner, [*cli_args, "runs", "compare", a.id, b.id])
    assert "≠ params.C" in compared.output
    registered = json.loads(
        run(runner, [*cli_args, "models", "register", f"runs:/{a.id}/model", "iris", "--json"]).output
    )
    assert registered["status"] == "READY"
    assert run(runner, [*cli_args, "models", "set-alias", "iris", "staging", "1"]).exit_code == 0
    history = json.loads(run(runner, [*cli_args, "models", "alias-history", "iris", "--json"]).output)
    assert [(c["alias"], c["to_version"]) for c in history["changes"]] == [("staging", 1)]
    listed = run(runner, [*cli_args, "models", "list"])
    assert "@staging→v1" in listed.output
    out = tmp_path / "downloaded"
    assert run(runner, [*cli_args, "models", "download", "models:/iris@staging", str(out)]).exit_code == 0
    assert (out / "shipyard-model.json").is_file()
    got = run(runner, [*cli_args, "runs", "download", a.id, "model", "--dest", str(tmp_path / "art")])
    assert got.exit_code == 0, got.output
    assert (tmp_path / "art" / "model" / "model.skops").is_file()
    reserved = run(runner, [*cli_args, "models", "set-alias", "iris", "latest", "1"])
    assert reserved.exit_code == 2
