"""A monitor's HTML report end to end: ``GET /api/v1/projects/{p}/monitors/{name}/report``,
``client.monitoring.report`` and ``shipyard monitor report``, in local mode and against a real
server, over synthetic traffic written by the real prediction-log writer.

The monitor runs twice — over a clean window, then over one with ``age`` shifted, a new
``region`` and labels flipped in slice ``segment=C`` — so the report has every section, and each
plot is a PNG inlined in the one file (nothing fetched from anywhere: it opens offline).
"""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from shipyard.cli.main import app
from shipyard.client import Client
from shipyard.client.datasets import describe
from shipyard.errors import InvalidArgument, NotFound
from shipyard.settings import Settings
from tests.monitoring._predlog import write_log
from tests.monitoring._synthetic import Injection, window

REF, CUR, N = 7, 1007, 300
DRIFT = Injection(shift_age=0.5, new_region_share=0.2)
COLUMNS = ["age", "income", "tenure", "score", "region", "plan", "segment", "prediction"]
SECTIONS = ("summary", "drift", "distributions", "drift-over-time", "performance-over-time", "slices")
PNG = b"\x89PNG\r\n\x1a\n"


def _reference(client: Client, tmp_path: Path) -> None:
    """Register the reference window as dataset ``golden``."""
    path = tmp_path / "reference.csv"
    window(REF, N).to_csv(path, index=False)
    run = client.create_run(name="data")
    client.log_inputs(run.id, [describe(path, name="golden", context="reference")])


def _drifted_monitor(client: Client, settings: Settings, tmp_path: Path, name: str = "churn-drift") -> None:
    """A monitor of ``churn`` with two results: a clean window, then a drifted one."""
    _reference(client, tmp_path)
    client.monitoring.create_monitor(
        name,
        "churn",
        window=f"last {N}",
        reference={"kind": "dataset", "dataset": "golden"},
        performance={"task": "classification", "slices": ["segment"]},
    )
    for age, prefix, injection in ((120, "clean-", None), (60, "drift-", DRIFT)):
        current = window(CUR, N, injection)
        ids = write_log(Path(settings.prediction_log_url), current, ts=time.time() - age, prefix=prefix)
        truth = current["prediction"].to_numpy().copy()
        if injection is not None:
            truth[current["segment"].to_numpy() == "C"] ^= 1
        client.monitoring.feedback("churn", pd.DataFrame({"request_id": ids, "label": truth}))
        client.monitoring.run_monitor(name)


def _check_offline_report(text: str, results: int = 2) -> None:
    """Every section; one inlined PNG per compared column plus the two time series; no URL."""
    assert text.startswith("<!DOCTYPE html>")
    for anchor in SECTIONS:
        assert f'<section id="{anchor}">' in text, anchor
    images = re.findall(r'<img src="([^"]*)"', text)
    assert len(images) == len(COLUMNS) + 2
    for src in images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG)
    assert re.findall(r'(?:src|href)="([^"]*)"', text) == images  # nothing else is referenced
    assert "http://" not in text
    assert "https://" not in text
    assert "<script" not in text
    for column in COLUMNS:
        assert f'alt="distribution of {column}"' in text
    drift = text.split('<section id="drift">', 1)[1].split("</section>", 1)[0]
    assert "2 of 8 columns drifted" in drift
    slices = text.split('<section id="slices">', 1)[1].split("</section>", 1)[0]
    assert "<td>segment</td><td>C</td>" in slices
    assert f"{results} (newest {results if results < 2 else 50} at most)" in text  # the runs in the time series


def test_the_report_of_a_drifted_monitor_has_every_section_and_opens_offline(
    any_client: Client, settings: Settings, tmp_path: Path
) -> None:
    _drifted_monitor(any_client, settings, tmp_path)
    _check_offline_report(any_client.monitoring.report("churn-drift"))


def test_a_monitor_without_results_or_data_still_has_a_report(
    any_client: Client, settings: Settings, tmp_path: Path
) -> None:
    any_client.monitoring.create_monitor("idle", "churn", window="1h", reference={"kind": "dataset", "dataset": "x"})
    text = any_client.monitoring.report("idle")
    assert "Monitor &#x27;idle&#x27; has no results yet" in text
    assert "no prediction of endpoint &#x27;churn&#x27; in the window (1h)" in text
    assert "<img" not in text
    assert '<section id="drift-over-time">' not in text

    write_log(Path(settings.prediction_log_url), window(CUR, 50), ts=time.time() - 60)
    text = any_client.monitoring.report("idle")  # data, but the reference does not exist
    assert "No distributions:" in text
    assert "dataset" in text
    assert "<img" not in text

    with pytest.raises(NotFound) as missing:
        any_client.monitoring.report("ghost")
    assert "ghost" in missing.value.message
    assert missing.value.details == {"resource": "monitor", "name": "ghost"}
    with pytest.raises(InvalidArgument) as bad:
        any_client.monitoring.report("idle", results=0)
    assert bad.value.details == {"field": "results"}


@pytest.mark.parametrize("mode", ["local", "http"])
def test_shipyard_monitor_report_writes_the_file(
    mode: str,
    cli_args: list[str],
    runner: CliRunner,
    settings: Settings,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    with Client(settings=settings) as client:
        _drifted_monitor(client, settings, tmp_path)
        client.monitoring.create_monitor("idle", "churn", window="1h")
    args = list(cli_args)
    if mode == "http":
        args += [
            "--server-url",
            request.getfixturevalue("server_url"),
            "--token",
            request.getfixturevalue("admin_token"),
        ]
    target = tmp_path / "reports" / "churn.html"

    done = runner.invoke(app, [*args, "monitor", "report", "churn-drift", "--out", str(target), "-n", "1", "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == {"path": str(target), "bytes": target.stat().st_size}
    _check_offline_report(target.read_text(encoding="utf-8"), results=1)

    idle = tmp_path / "idle.html"
    plain = runner.invoke(app, [*args, "monitor", "report", "idle", "-o", str(idle)])
    assert plain.exit_code == 0, plain.output
    assert f"wrote the report of monitor idle to {idle}" in " ".join(plain.stdout.split())
    assert "has no results yet" in idle.read_text(encoding="utf-8")

    ghost = runner.invoke(app, [*args, "monitor", "report", "ghost", "--out", str(tmp_path / "ghost.html")])
    assert ghost.exit_code == 3, ghost.output
    assert "ghost" in ghost.output
    assert not (tmp_path / "ghost.html").exists()
