"""Request and response shapes of the deployment API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shipyard.deploy.analysis import AnalysisResult
from shipyard.deploy.spec import EndpointSpec


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TrafficShare(BaseModel):
    model: str
    version: int
    weight: float = Field(description="Percent of requests.")


class Change(BaseModel):
    """One difference between the stored spec and a new one."""

    op: Literal["add", "remove", "change"]
    path: str = Field(description="e.g. routes[iris/3].weight, strategy.type")
    old: Any = None
    new: Any = None


class TransitionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    actor: str
    from_phase: str | None
    to_phase: str
    step_index: int
    weight: float
    reason: str


class RolloutOut(BaseModel):
    revision: int
    kind: str = Field(description="create, apply, retry or rollback")
    strategy: str
    phase: str
    step_index: int
    steps: int
    weight: float = Field(description="Percent of requests following to_routes.")
    message: str
    from_routes: list[TrafficShare]
    to_routes: list[TrafficShare]
    analysis: dict[str, Any] | None
    created_by: str
    created_at: datetime
    phase_since: datetime
    finished_at: datetime | None
    transitions: list[TransitionOut] = Field(default_factory=list)


class EndpointOut(BaseModel):
    name: str
    project: str
    revision: int
    phase: str = Field(description="Healthy, Progressing, Paused, Analysing or Degraded.")
    spec: EndpointSpec
    stable_routes: list[TrafficShare]
    traffic: list[TrafficShare]
    rollout: RolloutOut | None
    created_by: str
    created_at: datetime
    updated_at: datetime


class EndpointList(BaseModel):
    endpoints: list[EndpointOut]
    next_page_token: str | None = None


class ApplyResult(BaseModel):
    outcome: Literal["created", "updated", "retried", "unchanged"]
    dry_run: bool
    changes: list[Change]
    endpoint: EndpointOut | None = Field(description="The endpoint after applying (before, on a dry run; null if new).")


class RolloutHistory(BaseModel):
    rollouts: list[RolloutOut]
    next_page_token: str | None = None


class RollbackIn(_In):
    reason: str = Field(default="", max_length=10_000, description="Why (recorded on the transition).")


class PromoteIn(_In):
    full: bool = Field(default=False, description="Skip every remaining step, not only the current pause.")


class ObserveIn(_In):
    """What the controller saw of one revision (``POST …/endpoints/{name}/observe``)."""

    revision: int = Field(ge=1, description="The revision observed; an older one than the latest is refused (409).")
    ready: bool = Field(description="Whether the model servers of the new routes answer their health checks.")
    analysis: AnalysisResult | None = Field(default=None, description="The judge's verdict during an analysis step.")
