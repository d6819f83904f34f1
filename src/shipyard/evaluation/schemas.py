"""The evaluation result: what :func:`shipyard.evaluate` computes, logs and attaches to a version.

One JSON document (``evaluation.json`` in the run, and the record the server keeps for the
model version); the gates read nothing else. Every slice holds the candidate's metrics,
the baseline's on the same rows, and the paired deltas (``candidate - baseline``), each
with a percentile bootstrap confidence interval.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

ModelType = Literal["classifier", "regressor"]


class Estimate(BaseModel):
    """A metric's value on the evaluation rows and its bootstrap interval (None: undefined)."""

    value: float | None
    low: float | None = None
    high: float | None = None


class Delta(Estimate):
    """``candidate - baseline`` on the same resampled rows (paired bootstrap).

    ``se`` is the bootstrap standard error of the delta; the gates derive one-sided p-values
    from it (normal approximation)."""

    se: float | None = None


class McNemar(BaseModel):
    """McNemar's exact test on the rows the two models classify differently."""

    candidate_only: int  # rows only the candidate gets right
    baseline_only: int  # rows only the baseline gets right
    p_value: float  # two-sided exact binomial test


class SliceResult(BaseModel):
    n: int
    metrics: dict[str, Estimate]
    baseline: dict[str, Estimate] = Field(default_factory=dict)
    delta: dict[str, Delta] = Field(default_factory=dict)
    mcnemar: McNemar | None = None
    confusion: list[list[int]] | None = None
    baseline_confusion: list[list[int]] | None = None


class ModelRef(BaseModel):
    uri: str
    name: str | None = None
    version: int | None = None


class DatasetRef(BaseModel):
    name: str
    digest: str
    rows: int


class Curves(BaseModel):
    """Points for the report's plots (binary classifiers), downsampled."""

    roc: dict[str, list[float]] = Field(default_factory=dict)  # fpr, tpr (and baseline_fpr, baseline_tpr)
    calibration: dict[str, list[float]] = Field(default_factory=dict)  # mean_predicted, fraction_positive (+ baseline_)


class EvaluationResult(BaseModel):
    schema_version: Literal[1] = 1
    model_type: ModelType
    model: ModelRef
    baseline: ModelRef | None = None
    dataset: DatasetRef | None = None
    target: str
    labels: list[str] | None = None
    bootstrap: int
    seed: int
    confidence: float
    overall: SliceResult
    slices: dict[str, SliceResult] = Field(default_factory=dict)  # "column:value" -> result
    lower_is_better: list[str] = Field(default_factory=list)  # custom metrics where smaller wins
    latency: dict[str, float] = Field(default_factory=dict)  # p50_latency_ms, p99_latency_ms, requests
    curves: Curves | None = None
    run_id: str | None = None


class EvaluationOut(BaseModel):
    """An evaluation attached to a model version, as the server keeps it."""

    id: int
    model: str
    version: int
    run_id: str | None
    dataset_digest: str | None
    baseline_version: int | None
    created_by: str
    created_at: datetime
    result: EvaluationResult


class EvaluationList(BaseModel):
    evaluations: list[EvaluationOut]
    next_page_token: str | None = None


__all__ = [
    "Curves",
    "DatasetRef",
    "Delta",
    "Estimate",
    "EvaluationList",
    "EvaluationOut",
    "EvaluationResult",
    "McNemar",
    "ModelRef",
    "ModelType",
    "SliceResult",
]
