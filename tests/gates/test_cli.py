"""Gates and model comparison from the CLI (local mode)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from shipyard.cli.main import app
from tests.gates.conftest import MODEL, Registry


def test_gates_from_the_cli(registry: Registry, runner: CliRunner, cli_args: list[str], tmp_path: Path) -> None:
    def shipyard(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, [*cli_args, *args], catch_exceptions=False)
        return result.exit_code, result.output

    policy = tmp_path / "gate.txt"
    policy.write_text("auc >= baseline.auc - 0.005\nauc >= 0.9\n")
    code, out = shipyard("gates", "set", MODEL, "production", "--file", str(policy), "--json")
    assert code == 0, out
    assert json.loads(out)["rules"] == ["auc >= baseline.auc - 0.005", "auc >= 0.9"]
    policy.write_text("auc >> 0.9\n")
    code, out = shipyard("gates", "set", MODEL, "production", "--file", str(policy))
    assert code != 0
    assert "line 1, column 6" in out

    weak = registry.register("weak")
    registry.evaluate(weak, latency_requests=0)
    code, out = shipyard("gates", "check", MODEL, str(weak), "--json")
    assert code == 1
    verdict = json.loads(out)
    assert [o["status"] for o in verdict["outcomes"]] == ["fail", "fail"]
    code, out = shipyard("models", "set-alias", MODEL, "production", str(weak))
    assert code != 0
    assert "fails the gate of @production" in out
    assert f"fix: shipyard gates override {MODEL} {weak} --alias production" in out

    report = tmp_path / "report.html"
    code, out = shipyard("models", "compare", MODEL, "1", str(weak), "--html", str(report), "--json")
    assert code == 0, out
    rows = {r["metric"]: r for r in json.loads(out)["metrics"]}
    assert rows["roc_auc"]["paired"] is True  # v2 was evaluated against v1, on the same rows
    assert rows["roc_auc"]["delta"].startswith("-")
    code, out = shipyard("models", "compare", MODEL, "1", str(weak))
    assert code == 0, out
    assert "roc_auc" in out
    assert report.read_text().startswith("<!doctype html>")
