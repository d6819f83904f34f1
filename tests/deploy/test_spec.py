"""The endpoint spec: YAML in, a clear error naming the field out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shipyard.deploy.analysis import AnalysisSpec
from shipyard.deploy.spec import EndpointSpec, load_spec_file, load_spec_text, parse_duration, parse_spec
from shipyard.errors import InvalidArgument, ValidationFailed

YAML = """
name: iris
routes:
  - {model: iris, version: 4, weight: 90}
  - {model: iris, version: 5, weight: 10}
shadow:
  - {model: iris, version: 6, sample_rate: 0.2}
strategy:
  type: canary
  steps:
    - set_weight: 10
    - pause: {duration: 5m}
    - analysis: {interval: 30s, timeout: 1h}
    - pause: {}
analysis:
  checks:
    - {metric: error, absolute_tolerance: 0.01, critical: true}
    - {metric: latency_ms, summary: p99, tolerance: 0.2}
replicas: {min: 1, max: 3}
"""


def base(**extra: Any) -> dict[str, Any]:
    return {"name": "iris", "routes": [{"model": "iris", "version": 1, "weight": 100}], **extra}


def fields_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationFailed) as info:
        parse_spec(data, "endpoint.yaml")
    assert info.value.message.startswith("endpoint.yaml: ")
    return [f["field"] for f in info.value.details["fields"]]


def test_a_full_yaml_spec_loads(tmp_path: Path) -> None:
    path = tmp_path / "endpoint.yaml"
    path.write_text(YAML)
    spec = load_spec_file(path)
    assert [r.key for r in spec.routes] == ["iris/4", "iris/5"]
    assert spec.shadow[0].sample_rate == 0.2
    steps = spec.strategy.steps
    assert [s.kind for s in steps] == ["set_weight", "pause", "analysis", "pause"]
    assert steps[1].pause is not None
    assert steps[1].pause.duration == 300.0
    assert steps[2].analysis is not None
    assert steps[2].analysis.timeout == 3600.0
    assert steps[3].pause is not None
    assert steps[3].pause.duration is None
    assert isinstance(spec.effective_analysis, AnalysisSpec)
    assert spec.effective_analysis.checks[1].summary == "p99"
    assert (spec.replicas.min, spec.replicas.max) == (1, 3)


def test_the_canonical_form_round_trips_and_fixes_the_digest() -> None:
    spec = load_spec_text(YAML)
    again = EndpointSpec.model_validate(spec.canonical())
    assert again == spec
    assert again.digest() == spec.digest()
    assert "project" not in spec.canonical()
    assert parse_spec(base(project="p")).digest() == parse_spec(base()).digest()


def test_defaults_are_a_direct_single_replica_endpoint() -> None:
    spec = parse_spec(base())
    assert spec.strategy.type == "direct"
    assert spec.replicas.min == spec.replicas.max == 1
    assert spec.effective_analysis.checks[0].metric == "error"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (base(routes=[{"model": "iris", "version": 1, "weight": 90}]), "routes"),
        (base(routes=[{"model": "iris", "version": 1, "weight": 50}] * 2), "routes"),
        (base(routes=[{"model": "iris", "version": 1, "weight": 101}]), "routes.0.weight"),
        (base(routes=[{"model": "iris", "version": 0, "weight": 100}]), "routes.0.version"),
        (base(routes=[]), "routes"),
        (base(shadow=[{"model": "iris", "version": 1}]), "shadow"),
        (base(shadow=[{"model": "iris", "version": 2, "sample_rate": 0}]), "shadow.0.sample_rate"),
        (base(strategy={"type": "direct", "steps": [{"set_weight": 5}]}), "strategy"),
        (base(strategy={"type": "canary"}), "strategy"),
        (base(strategy={"type": "canary", "steps": [{"set_weight": 5, "pause": {}}]}), "strategy.steps.0"),
        (
            base(strategy={"type": "canary", "steps": [{"pause": {"duration": "soon"}}]}),
            "strategy.steps.0.pause.duration",
        ),
        (base(strategy={"type": "blue_green", "steps": [{"set_weight": 5}]}), "strategy"),
        (base(strategy={"type": "rolling"}), "strategy.type"),
        (base(replicas={"min": 3, "max": 2}), "replicas"),
        (base(analysis={"checks": []}), "analysis.checks"),
        (base(name="Iris_1"), "name"),
        (base(colour="blue"), "colour"),
    ],
)
def test_a_bad_spec_names_the_field(data: dict[str, Any], field: str) -> None:
    assert field in fields_of(data)


def test_the_weight_error_says_what_they_sum_to() -> None:
    with pytest.raises(ValidationFailed, match="sum to 100; they sum to 90"):
        parse_spec(base(routes=[{"model": "iris", "version": 1, "weight": 90}]))


def test_durations() -> None:
    assert parse_duration(90) == 90.0
    assert parse_duration("90") == 90.0
    assert parse_duration("250ms") == 0.25
    assert parse_duration("1.5h") == 5400.0
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("tomorrow")


def test_bad_yaml_and_non_mappings_are_invalid_arguments(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="not valid YAML"):
        load_spec_text("name: [", "x.yaml")
    with pytest.raises(InvalidArgument, match="must be a mapping"):
        load_spec_text("- 1\n- 2\n", "x.yaml")
    with pytest.raises(InvalidArgument, match="cannot read"):
        load_spec_file(tmp_path / "missing.yaml")
