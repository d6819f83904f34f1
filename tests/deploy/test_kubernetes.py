"""Kubernetes manifests for an endpoint: rendering, names, validation, and the CLI."""

from __future__ import annotations

import asyncio
import copy
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
import yaml
from typer.testing import CliRunner

from shipyard.cli.main import app as cli
from shipyard.client import Client
from shipyard.deploy import kubernetes as k8s
from shipyard.deploy.backends import READY_PATH, StaticBackends, Version
from shipyard.deploy.gateway import Gateway, GatewayConfig
from shipyard.deploy.schemas import TrafficShare
from shipyard.deploy.spec import EndpointSpec, parse_spec
from shipyard.errors import InvalidArgument, ValidationFailed
from shipyard.models.loaded import LoadedModel
from shipyard.serving import create_serving_app
from shipyard.serving.metrics import ServingMetrics
from shipyard.serving.model import ServedModel
from shipyard.serving.settings import ServingSettings

DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
CANARY: dict[str, Any] = {
    "name": "iris",
    "routes": [{"model": "iris", "version": 4, "weight": 90}, {"model": "iris", "version": 5, "weight": 10}],
    "shadow": [{"model": "iris", "version": 6, "sample_rate": 0.2}],
    "strategy": {"type": "canary", "steps": [{"set_weight": 10}, {"pause": {}}]},
    "replicas": {"min": 2, "max": 5, "target_inflight": 8},
}


@pytest.fixture
def any_client(client: Client) -> Client:
    """``iris_versions`` (tests/deploy/conftest.py) in local mode only: rendering reads through the same SDK."""
    return client


def canary(**changes: Any) -> EndpointSpec:
    return parse_spec({**CANARY, **changes})


def by_kind(manifests: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def test_a_canary_with_a_shadow_and_autoscaling_renders_valid_objects() -> None:
    manifests = k8s.render(canary(), project="default", namespace="ml")
    assert k8s.validate(manifests) == "1.30"
    for manifest in manifests:  # each one on its own, strict
        k8s.validate([manifest], "1.30")
    kinds = [(m["kind"], m["metadata"]["name"]) for m in manifests]
    assert kinds[:3] == [("ConfigMap", "iris-config"), ("Deployment", "iris-gateway"), ("Service", "iris")]
    for version in (4, 5, 6):
        name = f"iris-iris-v{version}"
        for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
            assert (kind, name) in kinds
    assert len(manifests) == 3 + 3 * 4
    assert {m["metadata"]["namespace"] for m in manifests} == {"ml"}

    deployment = by_kind(manifests, "Deployment")["iris-iris-v5"]
    assert deployment["spec"]["replicas"] == 2
    labels = deployment["metadata"]["labels"]
    assert labels["app.kubernetes.io/part-of"] == "shipyard"
    assert labels["app.kubernetes.io/name"] == "shipyard-model-server"
    assert (labels["shipyard.dev/endpoint"], labels["shipyard.dev/model"]) == ("iris", "iris")
    assert (labels["shipyard.dev/version"], labels["shipyard.dev/project"]) == ("5", "default")
    assert deployment["spec"]["template"]["metadata"]["labels"] == labels
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= labels.items()
    assert by_kind(manifests, "Service")["iris-iris-v5"]["spec"]["selector"] == selector
    served = container(deployment)
    assert served["command"][:3] == ["shipyard", "serve", "models:/iris/5"]
    argv = served["command"]
    assert argv[argv.index("--host") + 1] == "0.0.0.0"
    assert argv[argv.index("--port") + 1] == str(k8s.CONTAINER_PORT)
    assert served["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    service = by_kind(manifests, "Service")["iris-iris-v5"]["spec"]
    assert service["type"] == "ClusterIP"
    assert service["ports"][0]["port"] == 80


def test_autoscaling_follows_the_replica_spec() -> None:
    inflight = by_kind(k8s.render(canary(), project="default"), "HorizontalPodAutoscaler")["iris-iris-v4"]
    assert inflight["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "iris-iris-v4"}
    assert (inflight["spec"]["minReplicas"], inflight["spec"]["maxReplicas"]) == (2, 5)
    [metric] = inflight["spec"]["metrics"]
    assert metric["pods"]["metric"]["name"] == k8s.INFLIGHT_METRIC
    assert metric["pods"]["target"] == {"type": "AverageValue", "averageValue": "8"}
    fractional = k8s.render(canary(replicas={"min": 1, "max": 3, "target_inflight": 2.5}), project="default")
    [metric] = by_kind(fractional, "HorizontalPodAutoscaler")["iris-iris-v4"]["spec"]["metrics"]
    assert metric["pods"]["target"]["averageValue"] == "2500m"
    assert not by_kind(fractional, "PodDisruptionBudget")  # min 1: nothing to keep during a disruption
    k8s.validate(fractional)

    cpu = k8s.render(canary(replicas={"min": 1, "max": 3}), project="default")
    [metric] = by_kind(cpu, "HorizontalPodAutoscaler")["iris-iris-v4"]["spec"]["metrics"]
    assert metric == {
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
    }
    k8s.validate(cpu)

    for fixed in ({"min": 3, "max": 3}, {"min": 1, "max": 1}):
        manifests = k8s.render(canary(replicas=fixed), project="default")
        assert not by_kind(manifests, "HorizontalPodAutoscaler")
        assert {
            d["spec"]["replicas"]
            for d in by_kind(manifests, "Deployment").values()
            if "gateway" not in d["metadata"]["name"]
        } == {fixed["min"]}


def test_the_inflight_metric_is_the_one_the_model_server_exports() -> None:
    names = {metric.name for metric in ServingMetrics().registry.collect()}
    assert k8s.INFLIGHT_METRIC in names


def _never_loaded() -> LoadedModel:
    raise AssertionError("routing a path must not load a model")


def test_probes_point_at_the_serving_runtimes_health_paths() -> None:
    served = container(by_kind(k8s.render(canary(), project="default"), "Deployment")["iris-iris-v4"])
    assert served["readinessProbe"]["httpGet"] == {"path": READY_PATH, "port": "http"}
    assert served["livenessProbe"]["httpGet"] == {"path": k8s.LIVE_PATH, "port": "http"}
    unloaded = ServedModel(name="iris", loader=_never_loaded)  # the app is not started: nothing loads
    routes = create_serving_app([unloaded], ServingSettings()).endpoints
    assert routes.match(READY_PATH)[0] is routes.ready
    assert routes.match(k8s.LIVE_PATH)[0] is routes.live
    assert routes.match(served["startupProbe"]["httpGet"]["path"])[0] is routes.live


def test_the_gateway_probe_is_the_gateways_readiness_path() -> None:
    async def probe() -> httpx.Response:
        gateway = Gateway(GatewayConfig(endpoint="iris", routes=[]))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw") as http:
            response = await http.get(k8s.GATEWAY_READY_PATH)
        await gateway.aclose()
        return response

    response = asyncio.run(probe())
    assert (response.status_code, response.json()) == (503, {"ready": False})  # no routes yet: not ready
    manifests = k8s.render(canary(), project="team-a")
    proxy = container(by_kind(manifests, "Deployment")["iris-gateway"])
    assert proxy["readinessProbe"]["httpGet"]["path"] == k8s.GATEWAY_READY_PATH
    assert (
        by_kind(manifests, "Service")["iris"]["spec"]["selector"]
        == (by_kind(manifests, "Deployment")["iris-gateway"]["spec"]["selector"]["matchLabels"])
    )


def test_the_gateway_command_is_one_the_cli_accepts_and_reaches_every_version() -> None:
    manifests = k8s.render(canary(), project="team-a")
    argv = container(by_kind(manifests, "Deployment")["iris-gateway"])["command"]
    assert argv == k8s.gateway_command("iris", "team-a")
    assert argv[0] == "shipyard"
    group: Any = typer.main.get_command(cli)  # click's API (typer may bring its own click)
    context = group.make_context("shipyard", list(argv[1:]), resilient_parsing=True)
    endpoints = group.get_command(context, argv[1])
    serve = endpoints.get_command(context, argv[2])
    assert serve is not None, f"no command `shipyard {argv[1]} {argv[2]}`"
    params = serve.make_context(argv[2], list(argv[3:]), parent=context).params  # parses, or raises on a bad flag
    assert (params["name"], params["project"], params["host"], params["port"]) == ("iris", "team-a", "0.0.0.0", 8080)
    # The gateway fills the template per version as StaticBackends does: it must name each version's Service.
    backends = StaticBackends(endpoint="iris", url_template=params["backend_url"])
    try:
        versions = [Version("iris", v) for v in (4, 5, 6)]
        backends.reconcile(versions)
        config = json.loads(by_kind(manifests, "ConfigMap")["iris-config"]["data"]["backends.json"])
        assert {v.label: backends.url(v.label) for v in versions} == config
    finally:
        backends.close()
    assert k8s.unroutable(manifests) == []
    digit = k8s.render(parse_spec({**CANARY, "name": "9lives"}), project="default")
    assert k8s.unroutable(digit) == []
    awkward = k8s.render(canary(shadow=[{"model": "Iris_V2", "version": 1}]), project="default")
    assert k8s.unroutable(awkward) == []  # {service} is the Service's own name, slugged or not


def test_the_grace_period_covers_the_serving_runtimes_drain() -> None:
    pod = by_kind(k8s.render(canary(), project="default"), "Deployment")["iris-iris-v4"]["spec"]["template"]["spec"]
    argv = container({"spec": {"template": {"spec": pod}}})["command"]
    grace = float(argv[argv.index("--grace-period") + 1])
    drain = float(argv[argv.index("--drain-delay") + 1])
    assert grace == ServingSettings().grace_period_s
    assert drain > 0  # reported not-ready while still accepting: the Service drops the pod first
    assert pod["terminationGracePeriodSeconds"] > grace + drain
    longer = k8s.render(canary(), project="default", grace_period_s=120, drain_delay_s=10)
    pod = by_kind(longer, "Deployment")["iris-iris-v4"]["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] >= 130
    assert "120" in container({"spec": {"template": {"spec": pod}}})["command"]


def test_the_token_comes_from_a_secret_and_is_never_written() -> None:
    manifests = k8s.render(canary(), project="default", token_secret="prod-token", registry_url="http://cp:8765")
    for deployment in by_kind(manifests, "Deployment").values():
        env = {e["name"]: e for e in container(deployment)["env"]}
        assert env["SHIPYARD_CLIENT_TOKEN"] == {
            "name": "SHIPYARD_CLIENT_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": "prod-token", "key": "token"}},
        }
        assert env["SHIPYARD_CLIENT_URL"]["value"] == "http://cp:8765"
        assert env["SHIPYARD_CLIENT_PROJECT"]["value"] == "default"
        assert all("value" not in e for e in env.values() if "TOKEN" in e["name"] or "SECRET" in e["name"])
    assert not by_kind(manifests, "Secret")
    assert "prod-token" not in json.dumps(by_kind(manifests, "ConfigMap"))
    tokenless = k8s.render(canary(), project="default", token_secret=None)
    for deployment in by_kind(tokenless, "Deployment").values():
        assert "SHIPYARD_CLIENT_TOKEN" not in {e["name"] for e in container(deployment)["env"]}


@pytest.mark.parametrize(
    ("endpoint", "model"),
    [
        ("iris", "Iris_Classifier.v2"),
        ("iris", "iris-classifier"),
        ("9lives", "m"),
        ("a" * 50, "b" * 255),
        ("a" * 50, "B_" * 100),
        ("x", "model..name__"),
    ],
)
def test_names_are_dns_labels_for_awkward_endpoint_and_model_names(endpoint: str, model: str) -> None:
    spec = parse_spec(
        {
            "name": endpoint,
            "routes": [{"model": model, "version": 123, "weight": 100}],
            "replicas": {"min": 2, "max": 4},
        }
    )
    manifests = k8s.render(spec, project="team_a-")
    k8s.validate(manifests)
    for manifest in manifests:
        name = manifest["metadata"]["name"]
        assert len(name) <= 63
        assert DNS_LABEL.match(name), name
    deployment = by_kind(manifests, "Deployment")[k8s.version_name(endpoint, model, 123)]
    assert deployment["metadata"]["annotations"]["shipyard.dev/model"] == model
    assert container(deployment)["command"][2] == f"models:/{model}/123"
    assert k8s.version_name(endpoint, model, 123).endswith("-v123")


def test_names_of_different_models_never_collide() -> None:
    models = ["iris", "Iris", "IRIS", "iris_", "iris.", "i-ris", "i_ris", "i.ris", "c" * 200, "c" * 201]
    names = {k8s.version_name("e", m, 1) for m in models}
    assert len(names) == len(models)
    assert k8s.version_name("e", "iris", 1) == "e-iris-v1"  # a name that is already a DNS label stays as it is
    assert k8s.version_name("e", "iris", 1) == k8s.version_name("e", "iris", 1)
    assert k8s.label_value("iris") == "iris"
    for value in ("iris_", "x" * 64, "_a"):
        label = k8s.label_value(value)
        assert len(label) <= 63
        assert re.match(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$", label), label


def test_rendering_is_deterministic(tmp_path: Path) -> None:
    traffic = [TrafficShare(model="iris", version=4, weight=90), TrafficShare(model="iris", version=5, weight=10)]
    first = k8s.to_yaml(k8s.render(canary(), project="default", traffic=traffic))
    reordered = canary(routes=list(reversed(CANARY["routes"])))
    second = k8s.to_yaml(k8s.render(reordered, project="default", traffic=list(reversed(traffic))))
    # The model servers do not depend on the order of the routes (the ConfigMap and the
    # gateway's spec digest do: they carry the spec as stored).
    assert first.split("---\n")[4:] == second.split("---\n")[4:]
    assert first == k8s.to_yaml(k8s.render(canary(), project="default", traffic=traffic))
    assert list(yaml.safe_load_all(first)) == k8s.render(canary(), project="default", traffic=traffic)
    paths = k8s.write(k8s.render(canary(), project="default"), tmp_path / "a")
    again = k8s.write(k8s.render(canary(), project="default"), tmp_path / "b")
    assert [p.name for p in paths] == [p.name for p in again]
    assert all(p.read_bytes() == q.read_bytes() for p, q in zip(paths, again, strict=True))
    assert "deployment-iris-iris-v4.yaml" in [p.name for p in paths]
    assert all(p.name == p.name.lower() for p in paths)


def test_the_configmap_carries_the_spec_the_traffic_and_the_backends() -> None:
    spec = canary()
    # Mid-rollout: the stable version 3 still answers most requests, so it runs too.
    traffic = [TrafficShare(model="iris", version=3, weight=90), TrafficShare(model="iris", version=4, weight=10)]
    manifests = k8s.render(spec, project="default", traffic=traffic)
    config = by_kind(manifests, "ConfigMap")["iris-config"]
    document = json.loads(config["data"]["endpoint.json"])
    assert document["spec"] == spec.canonical()
    assert document["digest"] == spec.digest()
    assert document["traffic"] == [
        {"model": "iris", "version": 3, "weight": 90.0},
        {"model": "iris", "version": 4, "weight": 10.0},
    ]
    backends = json.loads(config["data"]["backends.json"])
    assert backends == {f"iris/{v}": f"http://iris-iris-v{v}" for v in (3, 4, 5, 6)}
    assert set(by_kind(manifests, "Service")) == {"iris", *(f"iris-iris-v{v}" for v in (3, 4, 5, 6))}
    without = json.loads(
        by_kind(k8s.render(spec, project="default"), "ConfigMap")["iris-config"]["data"]["endpoint.json"]
    )
    assert [(t["version"], t["weight"]) for t in without["traffic"]] == [(4, 90.0), (5, 10.0)]  # the spec's routes


def test_a_broken_manifest_is_rejected_naming_the_object_and_field() -> None:
    manifests = k8s.render(canary(), project="default")
    broken = copy.deepcopy(manifests)
    by_kind(broken, "Deployment")["iris-iris-v4"]["spec"]["replicas"] = "two"
    with pytest.raises(ValidationFailed) as caught:
        k8s.validate(broken)
    assert "Deployment/iris-iris-v4" in caught.value.message
    assert "spec.replicas" in caught.value.message
    assert caught.value.details["field"] == "spec.replicas"
    assert caught.value.details["object"] == "Deployment/iris-iris-v4"

    unknown = copy.deepcopy(manifests)
    container(by_kind(unknown, "Deployment")["iris-iris-v5"])["readinesProbe"] = {}  # a typo: strict refuses it
    with pytest.raises(ValidationFailed, match=r"Deployment/iris-iris-v5: spec\.template\.spec\.containers\.0"):
        k8s.validate(unknown)

    bad_name = copy.deepcopy(manifests)
    by_kind(bad_name, "Service")["iris-iris-v6"]["metadata"]["name"] = "Iris_v6"
    with pytest.raises(ValidationFailed, match=r"Service/Iris_v6: metadata\.name"):
        k8s.validate(bad_name)

    bad_label = copy.deepcopy(manifests)
    by_kind(bad_label, "ConfigMap")["iris-config"]["metadata"]["labels"]["shipyard.dev/project"] = "team_"
    with pytest.raises(ValidationFailed, match=r"metadata\.labels\.shipyard\.dev/project"):
        k8s.validate(bad_label)

    with pytest.raises(ValidationFailed, match="two objects"):
        k8s.validate([*manifests, manifests[0]])
    with pytest.raises(InvalidArgument, match=r"no schemas for Kubernetes 1\.99"):
        k8s.validate(manifests, "1.99")


def test_validate_says_how_to_install_kubernetes_validate_when_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from shipyard.errors import Unavailable

    monkeypatch.setitem(sys.modules, "kubernetes_validate", None)
    with pytest.raises(Unavailable) as caught:
        k8s.validate(k8s.render(canary(), project="default"))
    assert "kubernetes-validate" in caught.value.details["fix"]


def test_the_cli_renders_a_spec_file_without_a_server(runner: CliRunner, cli_args: list[str], tmp_path: Path) -> None:
    file = tmp_path / "endpoint.yaml"
    file.write_text(yaml.safe_dump(CANARY))
    printed = runner.invoke(cli, [*cli_args, "endpoints", "render", "-f", str(file), "--image", "reg/shipyard:1"])
    assert printed.exit_code == 0, printed.output
    documents = list(yaml.safe_load_all(printed.stdout))
    assert documents == k8s.render(canary(), project="default", image="reg/shipyard:1")

    out = tmp_path / "manifests"
    written = runner.invoke(
        cli, [*cli_args, "endpoints", "render", "-f", str(file), "--out", str(out), "--namespace", "ml", "--json"]
    )
    assert written.exit_code == 0, written.output
    body = json.loads(written.stdout)
    assert body["validated_against"] == "1.30"
    assert len(body["files"]) == len(body["manifests"]) == 15
    assert sorted(p.name for p in out.iterdir()) == sorted(Path(f).name for f in body["files"])
    assert yaml.safe_load((out / "service-iris.yaml").read_text())["metadata"]["namespace"] == "ml"

    unvalidated = runner.invoke(cli, [*cli_args, "endpoints", "render", "-f", str(file), "--no-validate", "--json"])
    assert json.loads(unvalidated.stdout)["validated_against"] is None
    nothing = runner.invoke(cli, [*cli_args, "endpoints", "render"])
    assert nothing.exit_code == 2
    assert "NAME" in nothing.output
    mismatch = runner.invoke(cli, [*cli_args, "endpoints", "render", "other", "-f", str(file)])
    assert mismatch.exit_code == 2
    file.write_text("name: iris\nroutes:\n  - {model: iris, version: 1, weight: 50}\n")
    invalid = runner.invoke(cli, [*cli_args, "endpoints", "render", "-f", str(file)])
    assert invalid.exit_code == 2
    assert "sum to 50" in invalid.output


def test_the_cli_renders_a_stored_endpoint_with_its_traffic(
    iris_versions: Client, runner: CliRunner, cli_args: list[str], tmp_path: Path
) -> None:
    c = iris_versions
    c.apply_endpoint({"name": "iris", "routes": [{"model": "iris", "version": 1, "weight": 100}]})
    c.apply_endpoint(
        {
            "name": "iris",
            "routes": [{"model": "iris", "version": 2, "weight": 100}],
            "shadow": [{"model": "iris", "version": 3, "sample_rate": 0.5}],
            "strategy": {
                "type": "canary",
                "steps": [{"set_weight": 20}, {"pause": {}}, {"set_weight": 60}, {"pause": {}}],
            },
            "replicas": {"min": 1, "max": 3},
        }
    )
    c.promote_endpoint("iris")  # past the first pause: iris/1 40 %, iris/2 60 %
    out = tmp_path / "out"
    result = runner.invoke(cli, [*cli_args, "endpoints", "render", "iris", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote 12 objects" in result.output
    assert "valid for Kubernetes 1.30" in result.output
    manifests = [yaml.safe_load(p.read_text()) for p in sorted(out.iterdir())]
    k8s.validate(manifests)
    deployments = by_kind(manifests, "Deployment")
    assert set(deployments) == {"iris-gateway", "iris-iris-v1", "iris-iris-v2", "iris-iris-v3"}
    assert set(by_kind(manifests, "HorizontalPodAutoscaler")) == {"iris-iris-v1", "iris-iris-v2", "iris-iris-v3"}
    document = json.loads(by_kind(manifests, "ConfigMap")["iris-config"]["data"]["endpoint.json"])
    assert [(t["version"], t["weight"]) for t in document["traffic"]] == [(1, 40.0), (2, 60.0)]
    assert document["project"] == "default"
    missing = runner.invoke(cli, [*cli_args, "endpoints", "render", "nope"])
    assert missing.exit_code == 3
