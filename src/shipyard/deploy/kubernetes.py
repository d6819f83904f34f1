"""Kubernetes manifests for an endpoint: what runs it on a cluster, as plain dicts.

:func:`render` turns an :class:`~shipyard.deploy.spec.EndpointSpec` (and, optionally, the
traffic it has now) into these objects, in this order::

    ConfigMap   <endpoint>-config           the canonical spec, the traffic, the backend URLs
    Deployment  <endpoint>-gateway          the endpoint's gateway (GATEWAY_COMMAND)
    Service     <endpoint>                  the endpoint's address: port 80 → the gateway
    per model version served (routed now, routed by the spec, or shadowed), sorted:
    Deployment  <endpoint>-<model>-v<N>     ``shipyard serve models:/<model>/<N>``
    Service     <endpoint>-<model>-v<N>     port 80 → 8080 (the gateway's backend)
    HorizontalPodAutoscaler                 when replicas.max > replicas.min
    PodDisruptionBudget                     when replicas.min > 1

Names are DNS labels (at most 63 characters, ``[a-z0-9-]``, starting with a letter so
they suit Services too). A model name that is not one already (upper case, ``_``,
``.``) or that would make the name too long is slugged and given a short hash of the
original, so two models never share a name: ``Iris_V2`` version 3 of ``iris`` → ``iris-iris-v2-a46eda-v3``.
The full model name is kept in the ``shipyard.dev/model`` annotation; label values are
shortened the same way. An endpoint name starting with a digit is prefixed with ``ep-``.

Model servers take the control plane's address from ``SHIPYARD_CLIENT_URL`` and their
token from a Secret (``secretKeyRef``; a token is never written into a manifest). They
get readiness on ``/v2/health/ready`` and liveness on ``/v2/health/live``; on SIGTERM the
serving runtime reports not-ready for ``--drain-delay`` seconds while it still accepts
(what a preStop sleep would otherwise do), then finishes in-flight requests within
``--grace-period``; ``terminationGracePeriodSeconds`` covers both plus a margin.

The gateway runs :data:`GATEWAY_COMMAND`: ``shipyard endpoints serve NAME --backend-url
http://{service}``, the gateway and the controller in one process, routing to the version
Services rather than starting model servers; the gateway fills ``{service}`` with
:func:`version_name`, the same function that names the Services here, so every version is
reachable whatever its model's name. ``backends.json`` in the ConfigMap (mounted at
:data:`CONFIG_MOUNT`) lists the same URLs for other tools; :func:`unroutable` checks the
two agree.

:func:`validate` checks every object against the Kubernetes OpenAPI schemas bundled by
the ``kubernetes-validate`` package (offline, strict: unknown fields are errors) plus the
name and label rules the schemas do not carry. Applying the manifests to a cluster is
not done here (``kubectl apply -f DIR`` does it).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import yaml

from shipyard import __version__
from shipyard.deploy.backends import READY_PATH
from shipyard.deploy.spec import EndpointSpec
from shipyard.errors import InvalidArgument, Unavailable, ValidationFailed
from shipyard.serving.settings import ServingSettings
from shipyard.settings import ServerSettings

Manifest = dict[str, Any]

# The gateway's argv: `shipyard endpoints serve` (the gateway and the controller in one
# process) routing to the version Services instead of starting model servers. Filled in:
# "{endpoint}", "{project}", and "{prefix}" (the start of the object names, see
# version_name); "{service}" is left for the gateway, which fills it with version_name
# (shipyard.deploy.backends.StaticBackends). Adjust it here only.
GATEWAY_COMMAND: tuple[str, ...] = (
    "shipyard",
    "endpoints",
    "serve",
    "{endpoint}",
    "--project",
    "{project}",
    "--host",
    "0.0.0.0",
    "--port",
    "8080",
    "--backend-url",
    "http://{service}",
)
GATEWAY_READY_PATH = "/-/ready"
LIVE_PATH = "/v2/health/live"
INFLIGHT_METRIC = "shipyard_inflight_requests"  # shipyard.serving.metrics, per pod (labels model, version)
CONTAINER_PORT = 8080
SERVICE_PORT = 80
DEFAULT_IMAGE = f"shipyard:{__version__}"
DEFAULT_REGISTRY_URL = f"http://shipyard:{ServerSettings.model_fields['port'].default}"
DEFAULT_TOKEN_SECRET = "shipyard-client-token"  # key "token"; None: no token (a server without auth)
TOKEN_SECRET_KEY = "token"
DEFAULT_KUBERNETES_VERSION = "1.30"
DEFAULT_RESOURCES: Mapping[str, Mapping[str, str]] = {
    "requests": {"cpu": "500m", "memory": "1Gi"},
    "limits": {"memory": "2Gi"},
}
DEFAULT_GATEWAY_RESOURCES: Mapping[str, Mapping[str, str]] = {
    "requests": {"cpu": "250m", "memory": "256Mi"},
    "limits": {"memory": "512Mi"},
}
CPU_TARGET_PERCENT = 70
# The runtime's SIGTERM drain: ServingSettings' grace period, and a drain delay long enough
# for the Service's endpoints to drop the pod before it stops accepting connections.
GRACE_PERIOD_S: float = ServingSettings.model_fields["grace_period_s"].default
DRAIN_DELAY_S = 5.0
TERMINATION_MARGIN_S = 5
SHIPYARD_HOME = "/var/lib/shipyard"  # an emptyDir: the model cache (downloads are verified)
CONFIG_MOUNT = "/etc/shipyard/endpoint"

_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")  # DNS-1035, which is also DNS-1123
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_MAX_NAME = 63
_HASH_LEN = 6


class Share(Protocol):
    """One version's share of traffic (:class:`shipyard.deploy.schemas.TrafficShare`)."""

    @property
    def model(self) -> str: ...

    @property
    def version(self) -> int: ...

    @property
    def weight(self) -> float: ...


# -- names ----------------------------------------------------------------------------


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:_HASH_LEN]


def _slug(text: str) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]", "-", text.lower())).strip("-")


def _base(endpoint: str) -> str:
    """The endpoint's name as the start of object names (which must start with a letter)."""
    return endpoint if endpoint[:1].isalpha() else f"ep-{endpoint}"


def gateway_name(endpoint: str) -> str:
    return f"{_base(endpoint)}-gateway"


def service_name(endpoint: str) -> str:
    """The endpoint's Service: callers use ``http://<this>/``."""
    return _base(endpoint)


def config_name(endpoint: str) -> str:
    return f"{_base(endpoint)}-config"


def version_name(endpoint: str, model: str, version: int) -> str:
    """The Deployment, Service, HPA and PDB name of one served model version."""
    suffix = f"-v{version}"
    slug = _slug(model)
    name = f"{_base(endpoint)}-{slug}{suffix}"
    if slug == model and len(name) <= _MAX_NAME:
        return name
    room = _MAX_NAME - len(suffix) - 1 - _HASH_LEN
    head = f"{_base(endpoint)}-{slug}"[:room].rstrip("-")
    return f"{head}-{_hash(f'{endpoint}/{model}')}{suffix}"


def backend_url(endpoint: str, model: str, version: int) -> str:
    """Where the gateway reaches a version, in the same namespace (port 80)."""
    return f"http://{version_name(endpoint, model, version)}"


def gateway_command(endpoint: str, project: str) -> list[str]:
    """:data:`GATEWAY_COMMAND` for one endpoint."""
    fill = {"endpoint": endpoint, "project": project, "prefix": _base(endpoint)}
    pattern = re.compile(r"\{(" + "|".join(fill) + r")\}")
    return [pattern.sub(lambda m: fill[m.group(1)], part) for part in GATEWAY_COMMAND]


def _backend_url(template: str, endpoint: str, label: str) -> str:
    model, version = label.rsplit("/", 1)
    return template.format(
        endpoint=endpoint, model=model, version=version, service=version_name(endpoint, model, int(version))
    )


def unroutable(manifests: Iterable[Manifest]) -> list[str]:
    """The versions (``model/version``) whose Service the gateway's ``--backend-url``
    template does not name: models whose names are not DNS labels (``Iris_V2``) until the
    gateway can take each version's URL from ``backends.json``."""
    for manifest in manifests:
        data = manifest.get("data") or {}
        if manifest.get("kind") != "ConfigMap" or "backends.json" not in data:
            continue
        endpoint = manifest["metadata"]["labels"]["shipyard.dev/endpoint"]
        argv = gateway_command(endpoint, "")
        if "--backend-url" not in argv:
            return []
        template = argv[argv.index("--backend-url") + 1]
        backends: dict[str, str] = json.loads(data["backends.json"])
        return [label for label, url in backends.items() if _backend_url(template, endpoint, label) != url]
    return []


def label_value(value: str) -> str:
    """``value`` if it is a valid label value, else a shortened one with a hash of it."""
    if len(value) <= _MAX_NAME and _LABEL_VALUE.match(value):
        return value
    head = re.sub(r"[^A-Za-z0-9_.-]", "-", value)[: _MAX_NAME - 1 - _HASH_LEN]
    head = re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", head)
    return f"{head}-{_hash(value)}" if head else _hash(value)


# -- rendering --------------------------------------------------------------------------


def _quantity(value: float) -> str:
    if float(value).is_integer():
        return str(int(value))
    return f"{math.ceil(value * 1000)}m"


def _resources(resources: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    return {kind: dict(values) for kind, values in resources.items()}


def _metadata(name: str, labels: Mapping[str, str], namespace: str | None, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    meta["labels"] = dict(labels)
    meta.update({k: v for k, v in extra.items() if v})
    return meta


def _security() -> dict[str, Any]:
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def _env(project: str, registry_url: str, token_secret: str | None) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "SHIPYARD_CLIENT_URL", "value": registry_url},
        {"name": "SHIPYARD_CLIENT_PROJECT", "value": project},
        {"name": "SHIPYARD_HOME", "value": SHIPYARD_HOME},
    ]
    if token_secret:
        env.append(
            {
                "name": "SHIPYARD_CLIENT_TOKEN",
                "valueFrom": {"secretKeyRef": {"name": token_secret, "key": TOKEN_SECRET_KEY}},
            }
        )
    return env


def _probe(path: str, *, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def _deployment(
    name: str,
    labels: Mapping[str, str],
    selector: Mapping[str, str],
    namespace: str | None,
    replicas: int,
    pod: dict[str, Any],
    annotations: Mapping[str, str] | None = None,
) -> Manifest:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(name, labels, namespace, annotations=dict(annotations or {})),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(selector)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {
                    "labels": dict(labels),
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(CONTAINER_PORT),
                        "prometheus.io/path": "/metrics",
                    },
                },
                "spec": pod,
            },
        },
    }


def _service(name: str, labels: Mapping[str, str], selector: Mapping[str, str], namespace: str | None) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(name, labels, namespace),
        "spec": {
            "type": "ClusterIP",
            "selector": dict(selector),
            "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def _served(spec: EndpointSpec, traffic: Sequence[Share] | None) -> list[tuple[str, int]]:
    versions = {(r.model, r.version) for r in spec.routes}
    versions |= {(s.model, s.version) for s in spec.shadow}
    versions |= {(t.model, t.version) for t in traffic or ()}
    return sorted(versions)


def render(
    spec: EndpointSpec,
    *,
    project: str,
    image: str = DEFAULT_IMAGE,
    registry_url: str = DEFAULT_REGISTRY_URL,
    namespace: str | None = None,
    traffic: Sequence[Share] | None = None,
    token_secret: str | None = DEFAULT_TOKEN_SECRET,
    resources: Mapping[str, Mapping[str, str]] = DEFAULT_RESOURCES,
    gateway_resources: Mapping[str, Mapping[str, str]] = DEFAULT_GATEWAY_RESOURCES,
    gateway_replicas: int = 1,
    grace_period_s: float = GRACE_PERIOD_S,
    drain_delay_s: float = DRAIN_DELAY_S,
    image_pull_policy: str = "IfNotPresent",
) -> list[Manifest]:
    """The manifests that run ``spec`` (see the module docstring), in a stable order.

    ``traffic``: the shares the endpoint has now (``EndpointOut.traffic``); its versions
    get servers too (the stable ones during a rollout), and the ConfigMap carries it.
    Absent: the spec's routes are taken as the traffic. ``token_secret``: the Secret
    whose key ``token`` holds the API token (None: no token). The same arguments always
    give the same manifests."""
    if grace_period_s < 0 or drain_delay_s < 0:
        raise InvalidArgument("grace_period_s and drain_delay_s must not be negative", {"field": "grace_period_s"})
    if gateway_replicas < 1:
        raise InvalidArgument("gateway_replicas must be at least 1", {"field": "gateway_replicas"})
    endpoint = spec.name
    shares = (
        [(t.model, t.version, float(t.weight)) for t in traffic]
        if traffic is not None
        else [(r.model, r.version, float(r.weight)) for r in spec.routes]
    )
    common = {
        "app.kubernetes.io/part-of": "shipyard",
        "app.kubernetes.io/managed-by": "shipyard",
        "shipyard.dev/project": label_value(project),
        "shipyard.dev/endpoint": endpoint,
    }
    served = _served(spec, traffic)
    manifests: list[Manifest] = []

    # The ConfigMap: what the gateway routes, and where each version answers.
    config = config_name(endpoint)
    document = {
        "endpoint": endpoint,
        "project": project,
        "spec": spec.canonical(),
        "digest": spec.digest(),
        "traffic": [{"model": m, "version": v, "weight": w} for m, v, w in shares],
    }
    backends = {f"{m}/{v}": backend_url(endpoint, m, v) for m, v in served}
    manifests.append(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _metadata(config, {"app.kubernetes.io/name": "shipyard-endpoint", **common}, namespace),
            "data": {
                "endpoint.json": json.dumps(document, indent=2, sort_keys=True) + "\n",
                "backends.json": json.dumps(backends, indent=2, sort_keys=True) + "\n",
            },
        }
    )

    # The gateway.
    gateway = gateway_name(endpoint)
    g_selector = {"app.kubernetes.io/instance": gateway, "shipyard.dev/endpoint": endpoint}
    g_labels = {
        "app.kubernetes.io/name": "shipyard-gateway",
        "app.kubernetes.io/instance": gateway,
        "app.kubernetes.io/component": "gateway",
        **common,
    }
    g_pod = {
        "terminationGracePeriodSeconds": math.ceil(grace_period_s) + TERMINATION_MARGIN_S,
        "containers": [
            {
                "name": "gateway",
                "image": image,
                "imagePullPolicy": image_pull_policy,
                "command": gateway_command(endpoint, project),
                "env": _env(project, registry_url, token_secret),
                "ports": [{"name": "http", "containerPort": CONTAINER_PORT, "protocol": "TCP"}],
                "readinessProbe": _probe(GATEWAY_READY_PATH, period=5, failures=3),
                "livenessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 10, "failureThreshold": 3},
                "resources": _resources(gateway_resources),
                "securityContext": _security(),
                "volumeMounts": [
                    {"name": "endpoint", "mountPath": CONFIG_MOUNT, "readOnly": True},
                    {"name": "home", "mountPath": SHIPYARD_HOME},
                ],
            }
        ],
        "volumes": [
            {"name": "endpoint", "configMap": {"name": config}},
            {"name": "home", "emptyDir": {}},
        ],
    }
    manifests.append(
        _deployment(
            gateway,
            g_labels,
            g_selector,
            namespace,
            gateway_replicas,
            g_pod,
            {"shipyard.dev/spec-digest": spec.digest()},
        )
    )
    manifests.append(_service(service_name(endpoint), g_labels, g_selector, namespace))

    # One model server per version.
    replicas = spec.replicas
    termination = math.ceil(drain_delay_s + grace_period_s) + TERMINATION_MARGIN_S
    for model, version in served:
        name = version_name(endpoint, model, version)
        selector = {"app.kubernetes.io/instance": name, "shipyard.dev/endpoint": endpoint}
        labels = {
            "app.kubernetes.io/name": "shipyard-model-server",
            "app.kubernetes.io/instance": name,
            "app.kubernetes.io/component": "model-server",
            **common,
            "shipyard.dev/model": label_value(model),
            "shipyard.dev/version": str(version),
        }
        command = ["shipyard", "serve", f"models:/{model}/{version}", "--name", model]
        command += ["--host", "0.0.0.0", "--port", str(CONTAINER_PORT)]
        command += ["--grace-period", f"{grace_period_s:g}", "--drain-delay", f"{drain_delay_s:g}"]
        pod = {
            "terminationGracePeriodSeconds": termination,
            "containers": [
                {
                    "name": "model-server",
                    "image": image,
                    "imagePullPolicy": image_pull_policy,
                    "command": command,
                    "env": _env(project, registry_url, token_secret),
                    "ports": [{"name": "http", "containerPort": CONTAINER_PORT, "protocol": "TCP"}],
                    # Loading (download, verify, warm up) may take a while: the startup probe
                    # allows up to 10 minutes before liveness applies.
                    "startupProbe": _probe(LIVE_PATH, period=5, failures=120),
                    "readinessProbe": _probe(READY_PATH, period=5, failures=2),
                    "livenessProbe": _probe(LIVE_PATH, period=10, failures=3),
                    "resources": _resources(resources),
                    "securityContext": _security(),
                    "volumeMounts": [{"name": "home", "mountPath": SHIPYARD_HOME}],
                }
            ],
            "volumes": [{"name": "home", "emptyDir": {}}],
        }
        manifests.append(
            _deployment(name, labels, selector, namespace, replicas.min, pod, {"shipyard.dev/model": model})
        )
        manifests.append(_service(name, labels, selector, namespace))
        if replicas.max > replicas.min:
            manifests.append(_hpa(name, labels, namespace, spec))
        if replicas.min > 1:
            manifests.append(
                {
                    "apiVersion": "policy/v1",
                    "kind": "PodDisruptionBudget",
                    "metadata": _metadata(name, labels, namespace),
                    "spec": {"maxUnavailable": 1, "selector": {"matchLabels": dict(selector)}},
                }
            )
    return manifests


def _hpa(name: str, labels: Mapping[str, str], namespace: str | None, spec: EndpointSpec) -> Manifest:
    target_inflight = spec.replicas.target_inflight
    metric: dict[str, Any]
    if target_inflight is not None:
        metric = {
            "type": "Pods",
            "pods": {
                "metric": {"name": INFLIGHT_METRIC},
                "target": {"type": "AverageValue", "averageValue": _quantity(target_inflight)},
            },
        }
    else:
        metric = {
            "type": "Resource",
            "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": CPU_TARGET_PERCENT}},
        }
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(name, labels, namespace),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": spec.replicas.min,
            "maxReplicas": spec.replicas.max,
            "metrics": [metric],
        },
    }


# -- output -----------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Safe YAML, with multi-line strings (the ConfigMap's JSON) as literal blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _str)


def _dump(manifest: Mapping[str, Any]) -> str:
    return yaml.dump(dict(manifest), Dumper=_Dumper, sort_keys=False, default_flow_style=False)


def to_yaml(manifests: Iterable[Manifest]) -> str:
    """One multi-document YAML stream; keys in the order rendered (byte-stable)."""
    return yaml.dump_all(
        list(manifests), Dumper=_Dumper, sort_keys=False, default_flow_style=False, explicit_start=True
    )


def _object(manifest: Mapping[str, Any]) -> str:
    meta = manifest.get("metadata") if isinstance(manifest.get("metadata"), Mapping) else {}
    return f"{manifest.get('kind', '?')}/{(meta or {}).get('name', '?')}"


def filename(manifest: Mapping[str, Any]) -> str:
    return f"{manifest['kind']}-{manifest['metadata']['name']}.yaml".lower()


def write(manifests: Iterable[Manifest], out_dir: Path | str) -> list[Path]:
    """One file per object, ``<kind>-<name>.yaml`` in lower case; the paths written."""
    directory = Path(out_dir)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidArgument(f"cannot create {directory}: {exc.strerror or exc}", {"field": "out"}) from None
    paths = []
    for manifest in manifests:
        path = directory / filename(manifest)
        path.write_text(_dump(manifest), encoding="utf-8")
        paths.append(path)
    return paths


# -- validation ---------------------------------------------------------------------------


def _field(path: Iterable[Any]) -> str:
    return ".".join(str(part) for part in path) or "(object)"


def _invalid(manifest: Mapping[str, Any], field: str, message: str, version: str) -> ValidationFailed:
    obj = _object(manifest)
    return ValidationFailed(
        f"{obj}: {field}: {message} (Kubernetes {version})",
        {
            "object": obj,
            "field": field,
            "kubernetes_version": version,
            "fields": [{"field": field, "message": message}],
        },
    )


def _check_names(manifest: Mapping[str, Any], version: str) -> None:
    meta = manifest.get("metadata")
    name = meta.get("name") if isinstance(meta, Mapping) else None
    if not isinstance(name, str) or len(name) > _MAX_NAME or not _DNS_LABEL.match(name):
        raise _invalid(
            manifest,
            "metadata.name",
            f"{name!r} is not a DNS label (a-z, 0-9 and '-', starting with a letter, at most {_MAX_NAME})",
            version,
        )
    assert isinstance(meta, Mapping)
    spots: list[tuple[str, Any]] = [("metadata.labels", meta.get("labels"))]
    spec = manifest.get("spec")
    if isinstance(spec, Mapping):
        template = spec.get("template")
        if isinstance(template, Mapping) and isinstance(template.get("metadata"), Mapping):
            spots.append(("spec.template.metadata.labels", template["metadata"].get("labels")))
        selector = spec.get("selector")
        if isinstance(selector, Mapping):
            matched = selector.get("matchLabels") if "matchLabels" in selector else selector
            where = "spec.selector.matchLabels" if "matchLabels" in selector else "spec.selector"
            spots.append((where, matched))
    for where, labels in spots:
        for key, value in (labels or {}).items():
            if not isinstance(value, str) or len(value) > _MAX_NAME or not _LABEL_VALUE.match(value):
                raise _invalid(manifest, f"{where}.{key}", f"{value!r} is not a valid label value", version)


def validate(manifests: Iterable[Manifest], kubernetes_version: str = DEFAULT_KUBERNETES_VERSION) -> str:
    """Check each object against the Kubernetes schemas (strict) and the name and label
    rules; raises :class:`~shipyard.errors.ValidationFailed` naming the object and field.
    Returns the schema version checked against. Needs ``pip install kubernetes-validate``."""
    try:
        import kubernetes_validate  # type: ignore[import-untyped]
        from kubernetes_validate.utils import VersionNotSupportedError  # type: ignore[import-untyped]
    except ImportError:
        raise Unavailable(
            "validating manifests needs the kubernetes-validate package",
            {"fix": "pip install kubernetes-validate (or render with --no-validate)"},
        ) from None
    items = list(manifests)
    seen: set[str] = set()
    checked = kubernetes_version
    for manifest in items:
        obj = _object(manifest)
        if obj in seen:
            raise _invalid(manifest, "metadata.name", "two objects of this kind have this name", kubernetes_version)
        seen.add(obj)
        try:
            checked = kubernetes_validate.validate(manifest, kubernetes_version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise _invalid(manifest, _field(exc.absolute_path), exc.message, exc.version) from None
        except kubernetes_validate.SchemaNotFoundError as exc:
            raise _invalid(manifest, "apiVersion", exc.message, kubernetes_version) from None
        except VersionNotSupportedError:
            raise InvalidArgument(
                f"kubernetes-validate has no schemas for Kubernetes {kubernetes_version}; "
                f"it knows {kubernetes_validate.utils.all_versions()[0]} to {kubernetes_validate.latest_version()}",
                {"field": "kubernetes_version"},
            ) from None
        _check_names(manifest, checked)
    return checked


__all__ = [
    "CONFIG_MOUNT",
    "DEFAULT_IMAGE",
    "DEFAULT_KUBERNETES_VERSION",
    "DEFAULT_REGISTRY_URL",
    "DEFAULT_TOKEN_SECRET",
    "GATEWAY_COMMAND",
    "GATEWAY_READY_PATH",
    "INFLIGHT_METRIC",
    "LIVE_PATH",
    "Manifest",
    "Share",
    "backend_url",
    "config_name",
    "filename",
    "gateway_command",
    "gateway_name",
    "label_value",
    "render",
    "service_name",
    "to_yaml",
    "unroutable",
    "validate",
    "version_name",
    "write",
]
