"""The endpoint spec: what an endpoint should serve, and how a change reaches traffic.

One declarative document (YAML, JSON, or the same fields through the SDK) per endpoint::

    name: iris                    # lower-case letters, digits, '-' (a DNS label)
    routes:                       # the traffic split to reach; weights sum to 100
      - {model: iris, version: 4, weight: 100}
    shadow:                       # mirrored, answers logged and compared, never returned
      - {model: iris, version: 5, sample_rate: 0.2}
    strategy:
      type: canary                # direct | canary | blue_green
      steps:
        - set_weight: 10
        - pause: {duration: 5m}
        - analysis: {interval: 1m, timeout: 30m}
        - set_weight: 50
        - pause: {}               # until `shipyard endpoints promote`
    analysis:                     # shipyard.deploy.analysis.AnalysisSpec
      checks:
        - {metric: error, absolute_tolerance: 0.01, critical: true}
        - {metric: latency_ms, summary: p99, tolerance: 0.2}
      rules:                      # gate-policy language on the live samples, each critical
        - p99_latency_ms <= baseline * 1.2
    replicas: {min: 1, max: 3}

:func:`parse_spec` turns a mapping into an :class:`EndpointSpec` and every problem into one
:class:`~shipyard.errors.ValidationFailed` whose message and ``details.fields`` name the
field (``routes.1.weight``), the same shape the REST API gives for a bad body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shipyard.deploy.analysis import AnalysisSpec, default_spec
from shipyard.errors import InvalidArgument, ValidationFailed

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
MAX_DURATION_S = 7 * 24 * 3600.0


def parse_duration(value: Any) -> Any:
    """``90``, ``"90s"``, ``"5m"``, ``"1.5h"``, ``"250ms"`` → seconds (a float)."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string such as '30s', '5m', '1h'")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError(f"'{value}' is not a duration; write seconds or e.g. '30s', '5m', '1h', '250ms'")
        return float(match.group(1)) * _UNITS[match.group(2) or "s"]
    return value


Seconds = Annotated[float, BeforeValidator(parse_duration), Field(ge=0, le=MAX_DURATION_S)]
EndpointName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=50, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"),
    Field(description="Lower-case letters, digits and '-', at most 50 (it names processes and Kubernetes objects)."),
]
ModelName = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
StrategyType = Literal["direct", "canary", "blue_green"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RouteSpec(_Spec):
    """A registered model version and the share of requests it answers."""

    model: ModelName
    version: int = Field(ge=1)
    weight: int = Field(ge=0, le=100, description="Percent of requests (the routes' weights sum to 100).")

    @property
    def key(self) -> str:
        return f"{self.model}/{self.version}"


class ShadowSpec(_Spec):
    """A version that gets a copy of (a sample of) the requests; its answers are logged and
    compared, never returned to the caller."""

    model: ModelName
    version: int = Field(ge=1)
    sample_rate: float = Field(default=1.0, gt=0, le=1, description="Share of requests mirrored.")

    @property
    def key(self) -> str:
        return f"{self.model}/{self.version}"


class PauseSpec(_Spec):
    duration: Seconds | None = Field(
        default=None, description="How long to wait; absent: until `shipyard endpoints promote`."
    )


class AnalysisStepSpec(_Spec):
    interval: Seconds = Field(default=60.0, gt=0, description="How often the judge runs during the step.")
    timeout: Seconds = Field(
        default=1800.0, gt=0, description="An analysis still inconclusive after this long aborts the rollout."
    )


class CanaryStep(_Spec):
    """Exactly one of: ``set_weight`` (percent sent to the new routes), ``pause``, ``analysis``."""

    set_weight: int | None = Field(default=None, ge=0, le=100)
    pause: PauseSpec | None = None
    analysis: AnalysisStepSpec | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> CanaryStep:
        given = [k for k in ("set_weight", "pause", "analysis") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"a step is exactly one of set_weight, pause, analysis; this one has {given or 'none'}")
        return self

    @property
    def kind(self) -> str:
        return "set_weight" if self.set_weight is not None else "pause" if self.pause is not None else "analysis"


class StrategySpec(_Spec):
    type: StrategyType = Field(
        default="direct",
        description="direct: switch at once; canary: move traffic step by step; "
        "blue_green: start the new routes beside the old, then switch all traffic at once.",
    )
    steps: list[CanaryStep] = Field(default_factory=list, max_length=100)
    progress_deadline: Seconds = Field(
        default=600.0, gt=0, description="The new version must become ready within this long, or the rollout aborts."
    )

    @model_validator(mode="after")
    def _steps_fit_type(self) -> StrategySpec:
        if self.type == "direct" and self.steps:
            raise ValueError("steps apply to the canary and blue_green strategies, not direct")
        if self.type == "canary" and not self.steps:
            raise ValueError("a canary strategy needs at least one step (or use type: direct)")
        if self.type == "blue_green":
            for i, step in enumerate(self.steps):
                if step.set_weight is not None:
                    raise ValueError(
                        f"steps[{i}]: blue_green switches all traffic at once; its steps are pause and analysis only"
                    )
        return self


class ReplicaSpec(_Spec):
    min: int = Field(default=1, ge=1, le=1000, description="Model-server replicas per version, at least.")
    max: int = Field(default=1, ge=1, le=1000, description="At most (autoscaling between min and max).")
    target_inflight: float | None = Field(
        default=None, gt=0, description="Autoscaling target: requests in flight per replica."
    )

    @model_validator(mode="after")
    def _ordered(self) -> ReplicaSpec:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must not exceed max ({self.max})")
        return self


class EndpointSpec(_Spec):
    """The desired state of one endpoint."""

    kind: Literal["Endpoint"] = "Endpoint"
    name: EndpointName
    project: str | None = Field(
        default=None, description="The project (else the CLI's --project or the client's default); not stored."
    )
    description: str = Field(default="", max_length=10_000)
    routes: list[RouteSpec] = Field(min_length=1, max_length=20)
    shadow: list[ShadowSpec] = Field(default_factory=list, max_length=10)
    strategy: StrategySpec = Field(default_factory=StrategySpec)
    analysis: AnalysisSpec | None = Field(
        default=None, description="How a canary is judged (default: errors critical, p99 latency +20%)."
    )
    replicas: ReplicaSpec = Field(default_factory=ReplicaSpec)

    @field_validator("routes")
    @classmethod
    def _weights(cls, routes: list[RouteSpec]) -> list[RouteSpec]:
        total = sum(r.weight for r in routes)
        if total != 100:
            raise ValueError(f"the routes' weights must sum to 100; they sum to {total}")
        keys = [r.key for r in routes]
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        if repeated:
            raise ValueError(f"each model version may be routed once; repeated: {repeated}")
        return routes

    @field_validator("shadow")
    @classmethod
    def _shadows(cls, shadow: list[ShadowSpec], info: ValidationInfo) -> list[ShadowSpec]:
        keys = [s.key for s in shadow]
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        if repeated:
            raise ValueError(f"each model version may be shadowed once; repeated: {repeated}")
        routed = {r.key for r in info.data.get("routes") or []}
        both = sorted(set(keys) & routed)
        if both:
            raise ValueError(f"{both} already answer requests; a shadow target must not be routed too")
        return shadow

    @property
    def effective_analysis(self) -> AnalysisSpec:
        return self.analysis or default_spec()

    def canonical(self) -> dict[str, Any]:
        """The stored form: defaults filled in, unset optional fields left out, without ``project``."""
        return self.model_dump(mode="json", exclude={"project"}, exclude_none=True)

    def digest(self) -> str:
        import hashlib

        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def _field(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


def validation_failed(exc: ValidationError, source: str | None = None) -> ValidationFailed:
    """One error naming every bad field, shaped like the REST API's 422."""
    fields = [{"field": _field(p["loc"]) or "spec", "message": p["msg"], "type": p["type"]} for p in exc.errors()]
    first = fields[0]
    summary = f"{first['field']}: {first['message']}"
    if len(fields) > 1:
        summary += f" (and {len(fields) - 1} more: {', '.join(f['field'] for f in fields[1:])})"
    if source:
        summary = f"{source}: {summary}"
    details: dict[str, Any] = {"fields": fields}
    if source:
        details["source"] = source
    return ValidationFailed(summary, details)


def parse_spec(data: Any, source: str | None = None) -> EndpointSpec:
    if not isinstance(data, Mapping):
        raise InvalidArgument(
            f"{source or 'the spec'} must be a mapping of fields (name, routes, …), not {type(data).__name__}",
            {"field": "spec"},
        )
    try:
        return EndpointSpec.model_validate(dict(data))
    except ValidationError as exc:
        raise validation_failed(exc, source) from None


def load_spec_text(text: str, source: str = "spec") -> EndpointSpec:
    """Parse YAML (or JSON, which is YAML too) holding one endpoint."""
    try:
        import yaml
    except ImportError:  # PyYAML comes with the models extra; JSON needs nothing
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidArgument(
                f"{source}: reading YAML needs PyYAML (pip install 'shipyard[models]'); JSON failed too: {exc}",
                {"field": "spec", "source": source},
            ) from None
        return parse_spec(data, source)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidArgument(f"{source} is not valid YAML: {exc}", {"field": "spec", "source": source}) from None
    return parse_spec(data, source)


def load_spec_file(path: Path | str) -> EndpointSpec:
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidArgument(f"cannot read {file}: {exc.strerror or exc}", {"field": "file"}) from None
    return load_spec_text(text, str(file))


__all__ = [
    "AnalysisStepSpec",
    "CanaryStep",
    "EndpointSpec",
    "PauseSpec",
    "ReplicaSpec",
    "RouteSpec",
    "ShadowSpec",
    "StrategySpec",
    "load_spec_file",
    "load_spec_text",
    "parse_duration",
    "parse_spec",
    "validation_failed",
]
