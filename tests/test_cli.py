"""The CLI: tables by default, --json for scripts, one-line errors with exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from shipyard.cli.main import app


def run(runner: CliRunner, args: list[str]):
    return runner.invoke(app, args, catch_exceptions=False)


def test_help_on_every_level(runner: CliRunner) -> None:
    top = run(runner, ["--help"])
    assert top.exit_code == 0
    for group in ("config", "db", "projects", "artifacts", "server", "demo", "status"):
        assert group in top.output
        sub = run(runner, [group, "--help"])
        assert sub.exit_code == 0, group
    for leaf in (["projects", "list"], ["artifacts", "upload"], ["db", "upgrade"], ["config", "show"]):
        assert run(runner, [*leaf, "--help"]).exit_code == 0


def test_projects_json_and_table(runner: CliRunner, cli_args: list[str]) -> None:
    created = run(runner, [*cli_args, "projects", "create", "churn", "--description", "Churn", "--json"])
    assert created.exit_code == 0, created.output
    assert json.loads(created.output)["name"] == "churn"
    listed = json.loads(run(runner, [*cli_args, "projects", "list", "--json"]).output)
    assert [p["name"] for p in listed["projects"]] == ["churn", "default"]
    assert listed["next_page_token"] is None
    table = run(runner, [*cli_args, "projects", "list"])
    assert "churn" in table.output
    assert "Projects" in table.output
    page = json.loads(run(runner, [*cli_args, "projects", "list", "--max-results", "1", "--json"]).output)
    assert len(page["projects"]) == 1
    assert page["next_page_token"]
    shown = json.loads(run(runner, [*cli_args, "projects", "show", "churn", "--json"]).output)
    assert shown["description"] == "Churn"


def test_errors_are_one_line_with_exit_codes(runner: CliRunner, cli_args: list[str]) -> None:
    missing = run(runner, [*cli_args, "projects", "show", "ghost"])
    assert missing.exit_code == 3
    assert missing.output.strip() == "error: project 'ghost' does not exist"
    assert "Traceback" not in missing.output
    run(runner, [*cli_args, "projects", "create", "twice"])
    dup = run(runner, [*cli_args, "projects", "create", "twice"])
    assert dup.exit_code == 4
    bad = run(runner, [*cli_args, "projects", "create", "Bad Name"])
    assert bad.exit_code == 2
    assert "body.name" in bad.output
    assert "[a-z0-9]" in bad.output  # rich markup must not eat bracketed text


def test_debug_shows_traceback(runner: CliRunner, cli_args: list[str]) -> None:
    result = run(runner, [*cli_args, "--debug", "projects", "show", "ghost"])
    assert result.exit_code == 3
    assert "Traceback" in result.output


def test_artifacts_round_trip(runner: CliRunner, cli_args: list[str], tmp_path: Path) -> None:
    src = tmp_path / "data.bin"
    src.write_bytes(b"shipyard" * 10_000)
    up = run(runner, [*cli_args, "artifacts", "upload", str(src), "--json"])
    assert up.exit_code == 0, up.output
    info = json.loads(up.output)
    assert info["size"] == 80_000
    dest = tmp_path / "out" / "copy.bin"
    dest.parent.mkdir()
    down = run(runner, [*cli_args, "artifacts", "download", info["digest"], str(dest)])
    assert down.exit_code == 0, down.output
    assert "sha256 verified" in down.output
    assert dest.read_bytes() == src.read_bytes()
    listed = json.loads(run(runner, [*cli_args, "artifacts", "list", "--json"]).output)
    assert [b["digest"] for b in listed["blobs"]] == [info["digest"]]
    shown = json.loads(run(runner, [*cli_args, "artifacts", "info", "sha256:" + info["digest"], "--json"]).output)
    assert shown["size"] == 80_000
    bad = run(runner, [*cli_args, "artifacts", "info", "nothex"])
    assert bad.exit_code == 2
    assert "64 hex" in bad.output


def test_config_show_sources_and_masking(runner: CliRunner, cli_args: list[str], monkeypatch) -> None:
    monkeypatch.setenv("SHIPYARD_ARTIFACTS_S3_SECRET_ACCESS_KEY", "very-secret")
    result = run(runner, [*cli_args, "config", "show", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["settings"]["home"]["source"] == "override"
    assert data["settings"]["artifacts.s3_secret_access_key"] == {
        "value": "********",
        "source": "env:SHIPYARD_ARTIFACTS_S3_SECRET_ACCESS_KEY",
    }
    assert "very-secret" not in result.output
    table = run(runner, [*cli_args, "config", "show"])
    assert "very-secret" not in table.output
    assert "********" in table.output


def test_status_reports_both_stores(runner: CliRunner, cli_args: list[str]) -> None:
    result = run(runner, [*cli_args, "status", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["mode"] == "local"
    assert data["ready"]["checks"]["database"]["ok"]
    assert data["ready"]["checks"]["artifacts"]["ok"]


def test_server_url_flag_talks_http(runner: CliRunner, server_url: str, admin_token: str) -> None:
    result = run(runner, ["--server-url", server_url, "--token", admin_token, "projects", "list", "--json"])
    assert result.exit_code == 0, result.output
    assert "default" in result.output
    down = run(runner, ["--server-url", "http://127.0.0.1:9", "projects", "list"])
    assert down.exit_code == 5
    assert "cannot reach Shipyard" in down.output


def test_bad_configuration_is_one_line(runner: CliRunner, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SHIPYARD_SERVER_PORT", "not-a-port")
    result = run(runner, ["--home", str(tmp_path), "config", "show"])
    assert result.exit_code == 2
    assert "server.port" in result.output
    assert "SHIPYARD_SERVER_PORT" in result.output
    monkeypatch.delenv("SHIPYARD_SERVER_PORT")
    result = run(runner, ["--home", str(tmp_path), "--database-url", "mysql://x/y", "status"])
    assert result.exit_code == 2
    assert "supports sqlite, postgresql" in result.output


def test_version(runner: CliRunner) -> None:
    from shipyard import __version__

    assert run(runner, ["version"]).output.strip() == __version__
    assert json.loads(run(runner, ["version", "--json"]).output) == {"version": __version__}
