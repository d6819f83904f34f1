"""`shipyard demo` walks the golden path end to end, and can be run again."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from shipyard.cli.main import app
from shipyard.client import Client
from shipyard.demo.golden_path import DEMO_PROJECT, make_dataset
from shipyard.settings import load_settings


def test_demo_runs_twice_on_a_fresh_home(runner: CliRunner, tmp_path: Path) -> None:
    home = tmp_path / "demo-home"
    first = runner.invoke(app, ["--home", str(home), "demo"], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    for expected in ("created project demo", "verified the digest: identical", "server listening on http://127.0.0.1:"):
        assert expected in first.output
    assert "database  │ yes" in first.output or "database │ yes" in first.output.replace("  ", " ")
    second = runner.invoke(app, ["--home", str(home), "demo"], catch_exceptions=False)
    assert second.exit_code == 0, second.output
    assert "already exists" in second.output
    # What the demo left behind is really there.
    with Client(settings=load_settings({"home": str(home)}).settings) as client:
        blobs = client.list_blobs(project=DEMO_PROJECT).items
        assert len(blobs) == 1
        assert client.read_blob(blobs[0].digest, project=DEMO_PROJECT) == make_dataset()
