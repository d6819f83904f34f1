"""Monitors over the wire: their spec, the stored monitor, its results."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shipyard.monitoring.specs import DriftSpec, PerformanceSpec, QualitySpec
from shipyard.serving.settings import LABEL_PATTERN

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}$"
_DURATION = re.compile(r"^\s*(\d+)\s*([mhd])\s*$")
_LAST = re.compile(r"^\s*last\s+(\d+)\s*$")
MAX_LAST_N = 10_000_000
Status = Literal["ok", "warning", "drift", "no_data", "error"]


def parse_window(text: str) -> timedelta | int:
    """``30m`` / ``1h`` / ``24h`` / ``7d`` (a duration ending now) or ``last 1000`` (the newest N predictions)."""
    if match := _DURATION.match(text):
        amount, unit = int(match.group(1)), match.group(2)
        if amount > 0:
            return (
                timedelta(minutes=amount)
                if unit == "m"
                else timedelta(hours=amount)
                if unit == "h"
                else timedelta(days=amount)
            )
    if (match := _LAST.match(text)) and 0 < int(match.group(1)) <= MAX_LAST_N:
        return int(match.group(1))
    raise ValueError(f"window {text!r} is neither a duration (30m, 1h, 24h, 7d) nor 'last N' (N up to {MAX_LAST_N})")


class ReferenceSpec(BaseModel):
    """What the window is compared with: the training dataset recorded on the model version's
    run (``training``), or a registered dataset (``dataset``, by name and optionally digest)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["training", "dataset"] = "training"
    dataset: str | None = Field(default=None, description="kind=dataset: the dataset's name.")
    digest: str | None = Field(default=None, description="kind=dataset: its digest; default the newest.")
    model: str | None = Field(
        default=None, description="kind=training: the registered model; default the one answering most of the window."
    )
    version: int | None = Field(default=None, ge=1, description="kind=training: its version (with model).")

    @model_validator(mode="after")
    def _consistent(self) -> ReferenceSpec:
        if self.kind == "dataset" and not self.dataset:
            raise ValueError("reference.dataset is required when reference.kind is 'dataset'")
        if (self.model is None) != (self.version is None):
            raise ValueError("reference.model and reference.version go together")
        return self


class MonitorSpec(BaseModel):
    """What a monitor compares, and when."""

    model_config = ConfigDict(extra="forbid")

    endpoint: str = Field(pattern=LABEL_PATTERN, description="The endpoint=... partition of the prediction log.")
    window: str = Field(default="24h", description="30m, 1h, 24h, 7d (ending at the run) or 'last N' predictions.")
    reference: ReferenceSpec = Field(default_factory=ReferenceSpec)
    columns: list[str] | None = Field(
        default=None, description="Features (and 'prediction') to compare; default every one in both windows."
    )
    drift: DriftSpec | None = Field(default_factory=DriftSpec, description="Drift methods/thresholds; null: off.")
    quality: bool = Field(default=True, description="Run the data-quality checks.")
    quality_spec: QualitySpec | None = Field(
        default=None, description="Quality rules; default learned from the reference (infer_quality_spec)."
    )
    performance: PerformanceSpec | None = Field(default=None, description="Performance on labelled rows; null: off.")
    schedule: str | None = Field(default=None, description="Cron expression (UTC), e.g. '0 * * * *'; null: on demand.")
    enabled: bool = True

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        parse_window(value)
        return value.strip()

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        from croniter import croniter  # type: ignore[import-untyped]

        if not croniter.is_valid(value.strip()):
            raise ValueError(f"schedule {value!r} is not a valid cron expression (e.g. '0 * * * *')")
        return value.strip()


class MonitorIn(MonitorSpec):
    name: str = Field(pattern=NAME_PATTERN)


class MonitorOut(BaseModel):
    name: str
    project: str
    endpoint: str
    spec: MonitorSpec
    schedule: str | None
    enabled: bool
    next_run_at: datetime | None
    last_run_at: datetime | None
    last_status: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime


class MonitorList(BaseModel):
    monitors: list[MonitorOut]
    next_page_token: str | None = None


class MonitorResultOut(BaseModel):
    """One run of a monitor (the ``monitor_results`` row)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    monitor: str
    endpoint: str
    trigger: str
    status: Status
    message: str
    window_start: datetime | None
    window_end: datetime
    n_rows: int
    n_labeled: int
    reference_rows: int
    drift_share: float | None
    dataset_drift: bool | None
    drifted_columns: list[str]
    features: list[dict[str, Any]]
    quality_passed: bool | None
    quality: dict[str, Any] | None
    performance: dict[str, Any] | None
    duration_ms: float
    created_at: datetime


class MonitorResultList(BaseModel):
    results: list[MonitorResultOut]
    next_page_token: str | None = None


class RunDueOut(BaseModel):
    results: list[MonitorResultOut]


__all__ = [
    "MonitorIn",
    "MonitorList",
    "MonitorOut",
    "MonitorResultList",
    "MonitorResultOut",
    "MonitorSpec",
    "ReferenceSpec",
    "RunDueOut",
    "Status",
    "parse_window",
]
