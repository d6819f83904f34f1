"""Request and response bodies of the gates API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from shipyard.gates.checks import RuleOutcome


class GatePolicyIn(BaseModel):
    text: str = Field(min_length=1, max_length=20_000, description="The rules, one per line (see docs/gates.md).")


class GatePolicyOut(BaseModel):
    model: str
    alias: str
    text: str
    digest: str
    rules: list[str]
    updated_by: str
    updated_at: datetime


class GatePolicyList(BaseModel):
    policies: list[GatePolicyOut]


class GateCheckIn(BaseModel):
    alias: str = Field(min_length=1, max_length=255)


class GateOverrideIn(BaseModel):
    alias: str = Field(min_length=1, max_length=255)
    justification: str = Field(max_length=10_000)


class VerdictOut(BaseModel):
    id: int
    model: str
    version: int
    alias: str
    passed: bool
    overridden: bool
    overridden_by: str | None
    justification: str | None
    policy_digest: str
    evaluation_id: int | None
    baseline_version: int | None
    outcomes: list[RuleOutcome]
    created_by: str
    created_at: datetime

    @property
    def failing(self) -> list[RuleOutcome]:
        return [o for o in self.outcomes if not o.passed]


class VerdictList(BaseModel):
    verdicts: list[VerdictOut]


__all__ = [
    "GateCheckIn",
    "GateOverrideIn",
    "GatePolicyIn",
    "GatePolicyList",
    "GatePolicyOut",
    "VerdictList",
    "VerdictOut",
]
