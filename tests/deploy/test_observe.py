"""The controller's report (``observe``) through the SDK in local mode and over HTTP, on
SQLite and PostgreSQL: readiness gates the first step, a verdict decides an analysis step,
an inconclusive verdict is kept without moving, a stale revision is refused."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from shipyard.cli.main import app as cli
from shipyard.client import Client
from shipyard.deploy.analysis import AnalysisResult, analyse, default_spec
from shipyard.errors import Conflict, ValidationFailed

STEPS = {"type": "canary", "steps": [{"set_weight": 25}, {"analysis": {"interval": "1s", "timeout": "1h"}}]}


def spec(version: int, **extra: Any) -> dict[str, Any]:
    return {"name": "iris", "routes": [{"model": "iris", "version": version, "weight": 100}], **extra}


def verdict(error_rate: float, n: int = 200) -> AnalysisResult:
    stable = {"error": [0.0] * n, "latency_ms": [1.0] * n}
    failing = int(n * error_rate)
    candidate = {"error": [1.0] * failing + [0.0] * (n - failing), "latency_ms": [1.0] * n}
    return analyse(default_spec(), stable, candidate)


def test_readiness_then_a_verdict_move_the_rollout(iris_versions: Client) -> None:
    c = iris_versions
    c.apply_endpoint(spec(1))
    c.apply_endpoint(spec(2, strategy=STEPS))
    waiting = c.observe_endpoint("iris", revision=2, ready=False)
    assert waiting.rollout is not None
    assert (waiting.rollout.phase, waiting.rollout.weight) == ("Progressing", 0.0)  # not ready: no traffic yet
    analysing = c.observe_endpoint("iris", revision=2, ready=True)
    assert analysing.rollout is not None
    assert (analysing.rollout.phase, analysing.rollout.weight) == ("Analysing", 25.0)
    assert [(s.model, s.version, s.weight) for s in analysing.traffic] == [("iris", 1, 75.0), ("iris", 2, 25.0)]

    few = analyse(
        default_spec(), {"error": [0.0] * 3, "latency_ms": [1.0] * 3}, {"error": [0.0] * 3, "latency_ms": [1.0] * 3}
    )
    assert few.outcome == "inconclusive"
    kept = c.observe_endpoint("iris", revision=2, ready=True, analysis=few)
    assert kept.rollout is not None
    assert kept.rollout.phase == "Analysing"
    assert kept.rollout.analysis is not None
    assert kept.rollout.analysis["outcome"] == "inconclusive"  # shown while the step goes on

    done = c.observe_endpoint("iris", revision=2, ready=True, analysis=verdict(0.0))
    assert done.phase == "Healthy"
    assert [(s.version, s.weight) for s in done.traffic] == [(2, 100.0)]
    assert done.rollout is not None
    assert done.rollout.analysis is not None
    assert done.rollout.analysis["outcome"] == "success"
    again = c.observe_endpoint("iris", revision=2, ready=True)  # a finished rollout: nothing moves
    assert again.revision == 2
    assert again.phase == "Healthy"


def test_a_failed_verdict_aborts_and_a_stale_revision_is_refused(iris_versions: Client) -> None:
    c = iris_versions
    c.apply_endpoint(spec(1))
    c.apply_endpoint(spec(2, strategy=STEPS))
    c.observe_endpoint("iris", revision=2, ready=True)
    aborted = c.observe_endpoint("iris", revision=2, ready=True, analysis=verdict(0.3))
    assert aborted.phase == "Degraded"
    assert aborted.rollout is not None
    assert aborted.rollout.phase == "Aborted"
    assert "critical metric failed" in aborted.rollout.message
    assert [(s.version, s.weight) for s in aborted.traffic] == [(1, 100.0)]
    c.apply_endpoint(spec(3, strategy=STEPS))
    with pytest.raises(Conflict, match="revision 3 is the latest"):
        c.observe_endpoint("iris", revision=2, ready=True)


def test_serve_refuses_bad_arguments_naming_them(iris_versions: Client, cli_args: list[str]) -> None:
    runner = CliRunner()
    missing = runner.invoke(cli, [*cli_args, "endpoints", "serve", "nope", "--port", "0"])
    assert missing.exit_code != 0
    assert "endpoint 'nope' does not exist" in missing.output
    iris_versions.apply_endpoint(spec(1))
    bad = runner.invoke(cli, [*cli_args, "endpoints", "serve", "iris", "--backend-url", "http://x"])
    assert bad.exit_code == 2
    assert "--backend-url must contain {service}" in bad.output


def test_a_failing_analysis_rule_aborts_the_rollout_naming_it(iris_versions: Client) -> None:
    c = iris_versions
    analysis = {"checks": [{"metric": "error", "absolute_tolerance": 0.05}], "rules": ["p99_latency_ms <= 50"]}
    c.apply_endpoint(spec(1))
    offline = {"checks": [{"metric": "error"}], "rules": ["artifact format in [onnx]"]}
    with pytest.raises(ValidationFailed, match=r"analysis\.rules\.0: .*promotion gate"):
        c.apply_endpoint(spec(2, strategy=STEPS, analysis=offline))
    applied = c.apply_endpoint(spec(2, strategy=STEPS, analysis=analysis)).endpoint
    assert applied is not None
    assert applied.spec.analysis is not None
    assert applied.spec.analysis.rules == ["p99_latency_ms <= 50"]
    c.observe_endpoint("iris", revision=2, ready=True)
    n = 100
    result = analyse(
        applied.spec.effective_analysis,
        {"error": [0.0] * n, "latency_ms": [10.0] * n},
        {"error": [0.0] * n, "latency_ms": [80.0] * n},
    )
    aborted = c.observe_endpoint("iris", revision=2, ready=True, analysis=result)
    assert aborted.rollout is not None
    assert aborted.rollout.phase == "Aborted"
    assert "rule 'p99_latency_ms <= 50': p99_latency_ms = 80, required <= 50" in aborted.rollout.message
    assert aborted.rollout.analysis is not None
    assert aborted.rollout.analysis["metrics"][-1]["metric"] == "p99_latency_ms <= 50"
    assert [(s.version, s.weight) for s in aborted.traffic] == [(1, 100.0)]
