"""Specs (what a user writes) and replies of the alerting API: rules, their sources,
receivers, SLOs, alert instances, deliveries and an evaluation pass."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from shipyard.alerts.burn import DEFAULT_BURN_WINDOWS
from shipyard.alerts.states import Op
from shipyard.deploy.spec import parse_duration, validation_failed
from shipyard.errors import InvalidArgument

MAX_WINDOW_S = 400 * 86400.0


def parse_long_duration(value: Any) -> Any:
    """Like endpoint durations (``"250ms"``, ``"30s"``, ``"5m"``, ``"1h"``), plus days: ``"3d"``."""
    if isinstance(value, str) and value.strip().endswith("d") and value.strip()[:-1].replace(".", "", 1).isdigit():
        return float(value.strip()[:-1]) * 86400.0
    return parse_duration(value)


Duration = Annotated[float, BeforeValidator(parse_long_duration), Field(ge=0, le=MAX_WINDOW_S)]
Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$"),
    Field(description="Lower-case letters, digits, '-', '_' and '.', at most 63."),
]
Labels = Annotated[dict[str, str], Field(default_factory=dict, max_length=32)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- sources ---------------------------------------------------------------------------
class MetricsTarget(_Spec):
    """A Prometheus ``/metrics`` endpoint and the series of one endpoint in it. Defaults
    read the gateway's metrics; for a model server use ``shipyard_inference_requests`` and
    ``shipyard_inference_request_duration_seconds``."""

    url: Annotated[str, StringConstraints(min_length=1, max_length=2048, pattern=r"^https?://")]
    labels: Labels = Field(description="Label values a series must carry to count (e.g. {endpoint: churn}).")
    requests_metric: str = "shipyard_gateway_requests"
    duration_metric: str = "shipyard_gateway_request_duration_seconds"
    code_label: str = "code"
    error_codes: str = Field(default="5..", description="Regular expression: status codes that count as errors.")
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0

    @field_validator("error_codes")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value


class SeriesSource(_Spec):
    """Values pushed to the series ``series`` (``POST …/alerts/observations``); one alert
    instance per label set."""

    kind: Literal["series"] = "series"
    series: Name


class MetricSource(_Spec):
    """A serving metric over a sliding window of scraped samples."""

    kind: Literal["metric"] = "metric"
    target: MetricsTarget
    expr: Literal["error_ratio", "latency_quantile", "request_rate"]
    window: Duration = Field(default=300.0, gt=0)
    quantile: Annotated[float, Field(gt=0, lt=1)] = 0.99


class MonitorSource(_Spec):
    """A field of a monitor's results: ``drift_share``, ``feature_drift[age]``,
    ``performance.accuracy`` (see docs/alerts.md for the fields)."""

    kind: Literal["monitor"] = "monitor"
    monitor: Name
    field: Annotated[str, StringConstraints(min_length=1, max_length=255)]


Source = Annotated[SeriesSource | MetricSource | MonitorSource, Field(discriminator="kind")]


class RuleSpec(_Spec):
    name: Name
    source: Source
    op: Op = ">"
    threshold: float
    for_: Duration = Field(default=0.0, alias="for", description="How long the condition must hold before firing.")
    severity: Annotated[str, StringConstraints(min_length=1, max_length=32)] = "warning"
    labels: Labels
    summary: Annotated[str, StringConstraints(max_length=1000)] = ""
    receivers: list[Name] = Field(default_factory=list, max_length=16)
    stale_after: Duration | None = Field(default=None, description="Older observations count as no data.")
    repeat_interval: Duration | None = Field(default=None, description="Notify again while still firing.")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# -- receivers -------------------------------------------------------------------------
class RetryPolicy(_Spec):
    max_attempts: Annotated[int, Field(ge=1, le=10)] = 5
    backoff_s: Annotated[float, Field(ge=0, le=60)] = 1.0
    max_backoff_s: Annotated[float, Field(ge=0, le=600)] = 30.0
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 10.0


class ReceiverSpec(_Spec):
    """A webhook. ``url``, ``headers`` and ``signing_secret`` are secrets: stored
    encrypted, never shown again, never logged."""

    name: Name
    kind: Literal["webhook", "slack"] = "webhook"
    url: Annotated[str, StringConstraints(min_length=1, max_length=2048, pattern=r"^https?://")]
    headers: dict[str, str] = Field(default_factory=dict, max_length=16)
    signing_secret: Annotated[str, StringConstraints(min_length=16, max_length=256)] | None = None
    retry: RetryPolicy = Field(default_factory=RetryPolicy)


# -- SLOs ------------------------------------------------------------------------------
class BurnWindowSpec(_Spec):
    name: Name
    severity: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    factor: Annotated[float, Field(gt=0)]
    long: Duration = Field(gt=0)
    short: Duration = Field(gt=0)

    @model_validator(mode="after")
    def _short_below_long(self) -> BurnWindowSpec:
        if self.short > self.long:
            raise ValueError(f"short window ({self.short:g}s) is longer than the long one ({self.long:g}s)")
        return self


def default_burn_windows() -> list[BurnWindowSpec]:
    return [
        BurnWindowSpec(name=w.name, severity=w.severity, factor=w.factor, long=w.long_s, short=w.short_s)
        for w in DEFAULT_BURN_WINDOWS
    ]


class SLOSpec(_Spec):
    name: Name
    endpoint: Annotated[str, StringConstraints(min_length=1, max_length=63)]
    kind: Literal["availability", "latency"] = "availability"
    objective: Annotated[float, Field(gt=0, lt=1, description="e.g. 0.995: 99.5 % of requests are good.")]
    window: Duration = Field(default=30 * 86400.0, gt=0, description="The SLO's (error budget's) window.")
    latency_threshold: Duration | None = Field(default=None, description="latency: requests slower are bad.")
    target: MetricsTarget
    burn_windows: list[BurnWindowSpec] = Field(default_factory=default_burn_windows, min_length=1, max_length=8)
    labels: Labels
    receivers: list[Name] = Field(default_factory=list, max_length=16)

    @model_validator(mode="after")
    def _latency_threshold(self) -> SLOSpec:
        if self.kind == "latency" and not self.latency_threshold:
            raise ValueError("latency_threshold is required for a latency SLO (e.g. '100ms')")
        if self.kind == "availability" and self.latency_threshold is not None:
            raise ValueError("latency_threshold applies to latency SLOs only")
        names = [w.name for w in self.burn_windows]
        if len(set(names)) != len(names):
            raise ValueError("burn_windows names must be unique")
        return self


# -- replies ---------------------------------------------------------------------------
class RuleOut(BaseModel):
    name: str
    outcome: str | None = Field(default=None, description="On a put: created, updated or unchanged.")
    spec: RuleSpec
    created_by: str
    created_at: datetime
    updated_at: datetime


class RuleList(BaseModel):
    rules: list[RuleOut]
    next_page_token: str | None = None


class ReceiverOut(BaseModel):
    name: str
    outcome: str | None = Field(default=None, description="On a put: created, updated or unchanged.")
    kind: str
    url: str = Field(description="Redacted: scheme and host only, with a digest of the full URL.")
    header_names: list[str]
    signed: bool
    retry: RetryPolicy
    created_by: str
    created_at: datetime
    updated_at: datetime


class ReceiverList(BaseModel):
    receivers: list[ReceiverOut]
    next_page_token: str | None = None


class SLOOut(BaseModel):
    name: str
    outcome: str | None = Field(default=None, description="On a put: created, updated or unchanged.")
    spec: SLOSpec
    created_by: str
    created_at: datetime
    updated_at: datetime


class SLOList(BaseModel):
    slos: list[SLOOut]
    next_page_token: str | None = None


class BurnOut(BaseModel):
    window: str
    severity: str
    factor: float
    long_burn: float | None
    short_burn: float | None
    burning: bool


class SLOStatus(BaseModel):
    name: str
    objective: float
    window_s: float
    total: float = Field(description="Requests over the SLO window (as far as samples reach).")
    bad: float
    error_ratio: float | None
    budget_remaining: float | None = Field(description="1 - bad / (total * (1 - objective)); below 0: overspent.")
    samples: int
    burns: list[BurnOut]
    error: str | None = None


class AlertOut(BaseModel):
    fingerprint: str
    name: str
    rule: str | None
    slo: str | None
    labels: dict[str, str]
    severity: str
    status: str
    value: float | None
    threshold: float
    summary: str
    active_since: datetime | None
    fired_at: datetime | None
    resolved_at: datetime | None
    observed_at: datetime | None
    updated_at: datetime
    details: dict[str, Any] = Field(default_factory=dict, description="SLO alerts: long_burn and short_burn.")


class AlertList(BaseModel):
    alerts: list[AlertOut]
    next_page_token: str | None = None


class DeliveryOut(BaseModel):
    id: int
    notification_id: int
    receiver: str
    alert: str
    kind: str = Field(description="firing, resolved or test")
    attempt: int
    outcome: str = Field(description="delivered or failed")
    http_status: int | None
    error: str = Field(description="Why it failed; secrets redacted.")
    duration_ms: float
    at: datetime


class DeliveryList(BaseModel):
    deliveries: list[DeliveryOut]
    next_page_token: str | None = None


class NotificationOut(BaseModel):
    id: int
    alert: str
    receiver: str
    kind: str
    status: str = Field(description="pending, sending, delivered or failed")
    attempts: int


class EvaluateIn(_Spec):
    deliver: bool = True


class EvaluationOut(BaseModel):
    at: datetime
    evaluated: int = Field(description="Alert instances evaluated.")
    firing: list[str] = Field(description="Fingerprints firing after this pass.")
    notifications: list[NotificationOut]
    errors: list[str] = Field(description="Sources that could not be read (scrapes, monitors), redacted.")


class ObservationIn(_Spec):
    series: Name
    value: float
    at: datetime | None = None
    labels: Labels


class ObservationsIn(_Spec):
    observations: list[ObservationIn] = Field(min_length=1, max_length=10_000)


class ObservationsOut(BaseModel):
    stored: int


M = TypeVar("M", bound=BaseModel)


def parse_as(model: type[M], data: Any, source: str | None = None) -> M:
    """``data`` as a ``model`` (a spec), or one ValidationFailed naming every bad field."""
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_failed(exc, source) from None


def load_file(model: type[M], path: Path) -> M:
    """A spec from a YAML or JSON file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidArgument(f"cannot read {path}: {exc.strerror or exc}", {"field": "file"}) from None
    except yaml.YAMLError as exc:
        raise InvalidArgument(f"{path} is not valid YAML or JSON: {exc}", {"field": "file"}) from None
    return parse_as(model, data, str(path))


__all__ = [
    "AlertList",
    "AlertOut",
    "BurnOut",
    "BurnWindowSpec",
    "DeliveryList",
    "DeliveryOut",
    "Duration",
    "EvaluateIn",
    "EvaluationOut",
    "MetricSource",
    "MetricsTarget",
    "MonitorSource",
    "Name",
    "NotificationOut",
    "ObservationIn",
    "ObservationsIn",
    "ObservationsOut",
    "ReceiverList",
    "ReceiverOut",
    "ReceiverSpec",
    "RetryPolicy",
    "RuleList",
    "RuleOut",
    "RuleSpec",
    "SLOList",
    "SLOOut",
    "SLOSpec",
    "SLOStatus",
    "SeriesSource",
    "Source",
    "default_burn_windows",
    "load_file",
    "parse_as",
    "parse_long_duration",
]
