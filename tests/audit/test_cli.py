"""``shipyard audit …`` in local mode: --json output, exit codes, the offline round trip."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from shipyard.audit.checkpoints import Notary
from shipyard.cli.main import app as cli
from shipyard.store.engine import Database

from .conftest import record, rehash, rows, sql


def invoke(runner: CliRunner, cli_args: list[str], *args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli, [*cli_args, "audit", *args])
    return result.exit_code, result.stdout, result.stderr


def test_verify_checkpoint_and_log(runner: CliRunner, cli_args: list[str], db: Database) -> None:
    record(db, 5)
    code, out, err = invoke(runner, cli_args, "verify", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert (report["ok"], report["entries"], report["problem"]) == (True, 5, None)

    code, out, _ = invoke(runner, cli_args, "checkpoint", "--json")
    assert code == 0
    issued = json.loads(out)
    assert (issued["tree_size"], issued["created"]) == (5, True)
    code, out, _ = invoke(runner, cli_args, "checkpoint")
    assert code == 0
    assert out.startswith("already signed: checkpoint")

    code, out, _ = invoke(runner, cli_args, "log", "--max-results", "2", "--json")
    assert code == 0
    listed = json.loads(out)
    assert [e["seq"] for e in listed["entries"]] == [5, 4]
    assert listed["next_page_token"]

    code, out, _ = invoke(runner, cli_args, "verify")
    assert code == 0
    assert "Audit log verified" in out


def test_a_broken_chain_exits_7_naming_the_entry(runner: CliRunner, cli_args: list[str], db: Database) -> None:
    record(db, 5)
    sql(db, "UPDATE events SET actor = 'mallory' WHERE seq = 3")
    [(event_id,)] = rows(db, "SELECT id FROM events WHERE seq = 3")
    code, out, err = invoke(runner, cli_args, "verify", "--json")
    assert code == 7
    assert json.loads(out)["problem"]["kind"] == "hash_mismatch"
    assert f"audit log broken (hash_mismatch): entry seq 3 (event id {event_id}) was changed" in err
    code, _, err = invoke(runner, cli_args, "verify", "--on-server")
    assert code == 7
    assert "seq 3" in err


def test_export_and_verify_it_offline(runner: CliRunner, cli_args: list[str], db: Database, tmp_path: Path) -> None:
    record(db, 12)
    export = tmp_path / "audit.jsonl"
    key = tmp_path / "audit-pub.pem"
    code, _, err = invoke(runner, cli_args, "export", "--since", "1", "--format", "jsonl", "--output", str(export))
    assert code == 0, err
    assert "exported 12 entries (seq 1 to 12)" in err
    assert invoke(runner, cli_args, "public-key", "--output", str(key))[0] == 0
    assert key.read_text().startswith("-----BEGIN PUBLIC KEY-----")

    # offline: no --home, no database
    result = runner.invoke(cli, ["audit", "verify-export", str(export), "--public-key", str(key), "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["entries"] == 12

    lines = export.read_text().splitlines()
    del lines[5]
    export.write_text("\n".join(lines) + "\n")
    result = runner.invoke(cli, ["audit", "verify-export", str(export), "--public-key", str(key)])
    assert result.exit_code == 7
    assert "gap" in result.stderr


def test_export_to_stdout_by_time(runner: CliRunner, cli_args: list[str], db: Database) -> None:
    record(db, 3)
    code, out, _ = invoke(runner, cli_args, "export", "--since", "2000-01-01T00:00:00", "--until", "2")
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["type"] for r in records] == ["header", "entry", "entry", "end"]


def test_bad_input_names_the_option(runner: CliRunner, cli_args: list[str], tmp_path: Path) -> None:
    code, _, err = invoke(runner, cli_args, "export", "--since", "yesterday")
    assert code == 2
    assert "since takes a seq number or an ISO 8601 time" in err
    code, _, err = invoke(runner, cli_args, "export", "--format", "csv")
    assert code == 2
    not_export = tmp_path / "x.jsonl"
    not_export.write_text("hello\n")
    code, _, err = invoke(runner, cli_args, "verify-export", str(not_export))
    assert code == 2
    assert "not a Shipyard audit export" in err
    pem = tmp_path / "bad.pem"
    pem.write_text("nope")
    code, _, err = invoke(runner, cli_args, "verify", "--public-key", str(pem))
    assert code == 2
    assert "--public-key is not a PEM public key" in err


def test_a_cut_chain_shows_in_client_side_verification_and_in_an_export(
    runner: CliRunner, cli_args: list[str], db: Database, notary: Notary, tmp_path: Path
) -> None:
    """Entries cut off and the head moved back: the checkpoint beyond the new end is
    still listed, by the SDK's walk and in a full export."""
    record(db, 25)  # checkpoints at 10 and 20
    sql(db, "DELETE FROM events WHERE seq > 14")
    rehash(db, 14)
    code, out, _ = invoke(runner, cli_args, "verify", "--json")
    assert code == 7
    assert json.loads(out)["problem"]["kind"] == "truncated"
    export = tmp_path / "cut.jsonl"
    assert invoke(runner, cli_args, "export", "--output", str(export))[0] == 0
    result = runner.invoke(cli, ["audit", "verify-export", str(export), "--json"])
    assert result.exit_code == 7
    assert json.loads(result.stdout)["problem"]["kind"] == "truncated"
