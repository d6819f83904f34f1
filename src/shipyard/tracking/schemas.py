"""Request and response shapes of the tracking API.

Metric values are JSON numbers; NaN and ±infinity travel as the strings ``"NaN"``,
``"Infinity"`` and ``"-Infinity"`` (strict JSON has no literals for them), and those
strings (or the non-standard literals) are accepted on input.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Key = Annotated[
    str,
    StringConstraints(min_length=1, max_length=250, pattern=r"^[\w\-. /:]+$"),
    Field(description="Letters, digits, '_', '-', '.', ' ', '/' and ':'; at most 250."),
]
ParamValue = Annotated[str, StringConstraints(max_length=6000)]
TagValue = Annotated[str, StringConstraints(max_length=8000)]
ExperimentName = Annotated[str, StringConstraints(min_length=1, max_length=500, strip_whitespace=True)]
RunName = Annotated[str, StringConstraints(max_length=250)]

MAX_BATCH_METRICS = 50_000
MAX_BATCH_PARAMS = 1_000
MAX_BATCH_TAGS = 1_000


class RunStatus(StrEnum):
    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True, ser_json_inf_nan="strings")


# -- experiments -------------------------------------------------------------------------
class ExperimentCreate(_In):
    name: ExperimentName
    description: str = Field(default="", max_length=20_000)
    tags: dict[Key, Annotated[str, StringConstraints(max_length=20_000)]] = Field(default_factory=dict)


class ExperimentUpdate(_In):
    name: ExperimentName | None = None
    description: str | None = Field(default=None, max_length=20_000)


class ExperimentOut(_Out):
    id: int
    name: str
    description: str
    lifecycle_stage: str
    tags: dict[str, str]
    created_at: datetime
    updated_at: datetime


class ExperimentList(BaseModel):
    experiments: list[ExperimentOut]
    next_page_token: str | None = None


class TagValueIn(_In):
    value: Annotated[str, StringConstraints(max_length=20_000)]


# -- runs --------------------------------------------------------------------------------
class RunSource(_In):
    """Where a run's code came from, captured by the SDK at start."""

    git_commit: str | None = None
    git_branch: str | None = None
    git_dirty: bool | None = None
    git_diff_sha256: str | None = None
    entry_point: str | None = None
    python_version: str | None = None
    packages_sha256: str | None = Field(default=None, description="sha256 of the resolved package list blob.")
    packages_count: int | None = None


class RunCreate(_In):
    experiment_id: int | None = Field(default=None, description="Unset: the project's 'Default' experiment.")
    name: RunName | None = None
    user_id: Annotated[str, StringConstraints(max_length=255)] = ""
    start_time: datetime | None = None
    parent_run_id: str | None = None
    tags: dict[Key, TagValue] = Field(default_factory=dict)
    source: RunSource | None = None


class RunUpdate(_In):
    status: RunStatus | None = None
    end_time: datetime | None = None
    name: RunName | None = None


class MetricIn(_In):
    key: Key
    value: float
    step: int = 0
    timestamp: int | None = Field(default=None, description="Milliseconds since the epoch; unset: server time.")


class ParamIn(_In):
    key: Key
    value: ParamValue


class TagIn(_In):
    key: Key
    value: TagValue


class LogBatch(_In):
    metrics: list[MetricIn] = Field(default_factory=list, max_length=MAX_BATCH_METRICS)
    params: list[ParamIn] = Field(default_factory=list, max_length=MAX_BATCH_PARAMS)
    tags: list[TagIn] = Field(default_factory=list, max_length=MAX_BATCH_TAGS)


class LogBatchResult(BaseModel):
    metrics: int
    params: int
    tags: int


class MetricOut(_Out):
    key: str
    value: float
    step: int
    timestamp: int


class DatasetIn(_In):
    name: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    digest: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    source_uri: str = ""
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    row_count: int | None = Field(default=None, ge=0)
    profile: dict[str, Any] | None = None
    context: Annotated[str, StringConstraints(min_length=1, max_length=64)] = "training"


class LogInputs(_In):
    datasets: list[DatasetIn] = Field(min_length=1, max_length=100)


class DatasetOut(_Out):
    model_config = ConfigDict(from_attributes=True, populate_by_name=True, serialize_by_alias=True)

    id: str
    name: str
    digest: str
    source_uri: str
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    row_count: int | None
    profile: dict[str, Any] | None


class RunInputOut(BaseModel):
    dataset: DatasetOut
    context: str


class RunOut(_Out):
    id: str
    experiment_id: int
    name: str
    status: RunStatus
    user_id: str
    start_time: datetime
    end_time: datetime | None
    lifecycle_stage: str
    parent_run_id: str | None
    source: dict[str, Any]
    params: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, MetricOut] = Field(default_factory=dict, description="Latest point per key.")
    inputs: list[RunInputOut] = Field(default_factory=list)


class RunList(BaseModel):
    runs: list[RunOut]
    next_page_token: str | None = None


class RunSearch(_In):
    experiment_ids: list[int] | None = None
    filter: str | None = Field(default=None, max_length=10_000)
    order_by: list[str] | None = Field(default=None, max_length=16)
    view: Literal["active", "deleted", "all"] = "active"
    max_results: int | None = None
    page_token: str | None = None


class HistoryPoint(_Out):
    step: int
    value: float
    timestamp: int
    min: float | None = None
    max: float | None = None
    count: int = 1


class MetricHistory(_Out):
    run_id: str
    key: str
    total_points: int
    downsampled: bool
    points: list[HistoryPoint]


class CompareRequest(_In):
    run_ids: list[str] = Field(min_length=1, max_length=100)
    metric_keys: list[str] | None = None


class RunComparison(_Out):
    runs: list[dict[str, Any]]
    params: dict[str, dict[str, str | None]]
    metrics: dict[str, dict[str, float | None]]
    tags: dict[str, dict[str, str | None]]
    differing_params: list[str]


class ArtifactIn(_In):
    path: Annotated[str, StringConstraints(min_length=1, max_length=1000)]
    digest: str
    size: int | None = Field(default=None, ge=0)


class LogArtifacts(_In):
    files: list[ArtifactIn] = Field(min_length=1, max_length=10_000)


class ArtifactOut(_Out):
    path: str
    digest: str
    size: int
    created_at: datetime


class ArtifactList(BaseModel):
    root: str
    files: list[ArtifactOut]
    next_page_token: str | None = None
