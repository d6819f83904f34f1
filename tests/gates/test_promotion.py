"""Gates on @production through the SDK (local mode, SQLite and PostgreSQL): evaluate, check, promote."""

from __future__ import annotations

import pytest

from shipyard.errors import PreconditionFailed
from tests.gates.conftest import MODEL, Registry

POLICY = """
# production gate
auc >= 0.9
auc >= baseline.auc - 0.005
rows >= 100
recall[slice=region:EU] >= baseline - 0.02
artifact format in [skops, onnx, xgboost-json]
evaluated on a dataset registered within 30 days
p99_latency_ms <= 2000
"""


def test_weak_candidate_is_blocked_and_strong_one_passes(registry: Registry) -> None:
    client = registry.client
    client.set_gate_policy(MODEL, "production", POLICY)
    weak = registry.register("weak")
    result = registry.evaluate(weak)
    assert result.overall.delta["roc_auc"].value is not None
    assert result.overall.delta["roc_auc"].value < 0
    assert result.run_id is not None
    with pytest.raises(PreconditionFailed) as info:
        client.set_alias(MODEL, "production", weak)
    assert "auc >= baseline.auc - 0.005" in info.value.details["failing_rules"]
    assert "auc >= baseline.auc - 0.005" in info.value.message
    assert client.get_version_by_alias(MODEL, "production").version == 1

    strong = registry.register("strong")
    registry.evaluate(strong)
    verdict = client.check_gate(MODEL, strong, "production")
    assert verdict.passed, [o.message for o in verdict.outcomes if not o.passed]
    client.set_alias(MODEL, "production", strong)  # reuses the fresh verdict
    assert client.get_version_by_alias(MODEL, "production").version == strong
    moves = [e for e in client.list_events(object_type="registered_model").items if e.action == "model_alias.set"]
    assert moves[-1].details["gate"]["reused"] is True


def test_a_slice_regression_hidden_by_a_better_global_metric_is_caught(registry: Registry) -> None:
    client = registry.client
    client.set_gate_policy(
        MODEL, "production", "auc >= baseline.auc - 0.005\nrecall[slice=region:EU] >= baseline - 0.02"
    )
    broken = registry.register("eu_broken", flavor="pyfunc")
    result = registry.evaluate(broken, latency_requests=0)
    assert result.overall.delta["roc_auc"].value is not None
    assert result.overall.delta["roc_auc"].value > 0  # better globally
    verdict = client.check_gate(MODEL, broken, "production")
    failing = [o.rule for o in verdict.outcomes if not o.passed]
    assert failing == ["recall[slice=region:EU] >= baseline - 0.02"]


def test_a_pickle_model_is_refused_by_the_no_pickle_rule(registry: Registry) -> None:
    client = registry.client
    client.set_gate_policy(MODEL, "production", "artifact format in [skops, onnx, xgboost-json]")
    pickled = registry.register("strong", flavor="pyfunc")
    with pytest.raises(PreconditionFailed) as info:
        client.set_alias(MODEL, "production", pickled)
    assert "artifact format is pickle" in info.value.message
    assert [p.alias for p in client.list_gate_policies(MODEL)] == ["production"]
    client.delete_gate_policy(MODEL, "production")  # no policy: no gate
    client.set_alias(MODEL, "production", pickled)
    assert client.get_version_by_alias(MODEL, "production").version == pickled


def test_no_evaluation_names_the_fix(registry: Registry) -> None:
    client = registry.client
    client.set_gate_policy(MODEL, "production", "auc >= 0.5")
    strong = registry.register("strong")
    verdict = client.check_gate(MODEL, strong, "production")
    assert not verdict.passed
    assert "shipyard.evaluate(" in verdict.outcomes[0].message


def test_signature_must_stay_compatible_with_the_baseline(registry: Registry) -> None:
    client = registry.client
    client.set_gate_policy(MODEL, "production", "signature compatible with baseline")
    strong = registry.register("strong")  # needs every feature; callers of v1 send three
    verdict = client.check_gate(MODEL, strong, "production")
    assert not verdict.passed
    assert "input 'mean perimeter' is required by the candidate" in verdict.outcomes[0].message
    weak = registry.register("weak")  # needs one of the three
    assert client.check_gate(MODEL, weak, "production").passed
