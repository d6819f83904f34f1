"""`shipyard demo` walks the golden path end to end, and can be run again."""

from __future__ import annotations

import hashlib
from pathlib import Path

from typer.testing import CliRunner

from shipyard.cli.main import app
from shipyard.client import Client
from shipyard.demo.golden_path import DEMO_PROJECT, make_dataset
from shipyard.settings import load_settings


def test_demo_runs_twice_on_a_fresh_home(runner: CliRunner, tmp_path: Path) -> None:
    home = tmp_path / "demo-home"
    result = runner.invoke(app, ["--home", str(home), "demo"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    first = " ".join(result.output.split())  # rich wraps long lines
    for expected in ("created project demo", "verified the digest: identical", "server listening on http://127.0.0.1:"):
        assert expected in first
    assert "database │ yes" in first
    assert "(Open Inference Protocol) → [" in first
    assert "answered by tumor-classifier/1" in first
    assert "a request missing columns → 400" in first
    # Authentication is on for the server: no token is refused, a viewer is denied, and
    # the audit trail of all of it verifies, online and as an export checked offline.
    assert "without a token → 401" in first
    assert "demo-viewer moves @production → 403" in first
    assert "registry.write" in first
    # @production is protected: a direct move and a self-approval are refused, a second
    # maintainer's approval moves it.
    assert "demo-admin moves @production directly → 409" in first
    assert "approves its own request → 409" in first
    assert "four eyes" in first
    assert "demo-approver (maintainer) approves: 'metrics and lineage checked' → @production = version 1" in first
    assert "shipyard audit verify → intact" in first
    assert "verified offline with no database: intact" in first
    again = runner.invoke(app, ["--home", str(home), "demo"], catch_exceptions=False)
    assert again.exit_code == 0, again.output
    second = " ".join(again.output.split())
    assert "already exists" in second
    # What the demo left behind is really there.
    for expected in (
        "tumor-classifier version 1: READY",
        "predictions identical to training: True",
        "@staging → version 1",
    ):
        assert expected in first
    assert "tumor-classifier version 2: READY" in second
    assert "shipyard audit verify → intact" in second
    with Client(settings=load_settings({"home": str(home)}).settings) as client:
        digest = hashlib.sha256(make_dataset()).hexdigest()
        assert client.read_blob(digest, project=DEMO_PROJECT) == make_dataset()
        model = client.get_registered_model("tumor-classifier", project=DEMO_PROJECT)
        assert model.aliases == {"staging": 2, "production": 2}
        requests = client.list_alias_requests(project=DEMO_PROJECT).items
        assert {(r.to_version, r.status.value, r.requested_by, r.decided_by) for r in requests} == {
            (1, "approved", "demo-admin", "demo-approver"),
            (2, "approved", "demo-admin", "demo-approver"),
        }
        runs = client.search_runs(project=DEMO_PROJECT, filter="metrics.auc > 0.9").items
        assert len(runs) == 6
        assert all(r.status == "FINISHED" and r.inputs for r in runs)
