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
    # Behind an endpoint, the broken canary is rolled back by the analysis and the good one promoted.
    assert "Aborted: step 1: analysis failed: critical metric failed: mean error" in first
    assert "tumor-classifier/4 answered 500" in first
    assert "Promoted: all 3 steps done" in first
    # Before that, the gate refused the weak candidate naming the rule, and passed the better one.
    assert "@champion → version 2: refused (412), failing: ['auc >= baseline.auc - 0.005'" in first
    assert "@champion → version 3: the gate passed" in first
    # Then the shifted traffic is found: labels join, the monitor sees drift, the alert reaches the webhook.
    assert "labels for 143 predictions arrive later: 143 joined, 0 duplicates, 0 unknown ids" in first
    assert "drift, drift share 1.00" in first
    assert "1 firing; 1 webhook call(s) received" in first
    assert "HTML report (self-contained, opens offline)" in first
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
    assert "tumor-classifier version 5: READY" in second  # after the first run's 1 and its candidates 2, 3, 4
    assert "shipyard audit verify → intact" in second
    with Client(settings=load_settings({"home": str(home)}).settings) as client:
        digest = hashlib.sha256(make_dataset()).hexdigest()
        assert client.read_blob(digest, project=DEMO_PROJECT) == make_dataset()
        model = client.get_registered_model("tumor-classifier", project=DEMO_PROJECT)
        assert model.aliases == {"staging": 5, "production": 5, "champion": 7}  # champion: the gated candidate
        requests = client.list_alias_requests(project=DEMO_PROJECT).items
        assert {(r.to_version, r.status.value, r.requested_by, r.decided_by) for r in requests} == {
            (1, "approved", "demo-admin", "demo-approver"),
            (5, "approved", "demo-admin", "demo-approver"),
        }
        runs = client.search_runs(project=DEMO_PROJECT, filter="metrics.auc > 0.9").items
        assert len(runs) == 6
        assert all(r.status == "FINISHED" and r.inputs for r in runs)
        endpoint = client.get_endpoint("tumor", project=DEMO_PROJECT)
        assert [(s.version, s.weight) for s in endpoint.traffic] == [(7, 100.0)]  # the second run's gated canary
