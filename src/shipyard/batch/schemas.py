"""The batch-job record: what ran, on what, what came out, and what went wrong."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

RECORD_FORMAT = 1

JobStatus = Literal["succeeded", "partial", "failed", "interrupted"]
InputFormat = Literal["parquet", "csv"]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FailedRange(_Out):
    """Rows the model could not predict: 0-based input positions (``row_index``), inclusive."""

    first_row: int = Field(ge=0)
    last_row: int = Field(ge=0)
    rows: int = Field(ge=1)
    error: str

    def describe(self) -> str:
        span = f"row {self.first_row}" if self.rows == 1 else f"rows {self.first_row}-{self.last_row}"
        return f"{span} failed: {self.error}"


class ModelInfo(_Out):
    uri: str = Field(description="The MODEL argument as given: a models:/ or runs:/ URI, or a local directory.")
    resolved_uri: str | None = Field(
        default=None, description="models:/<name>/<version> the alias or 'latest' resolved to (models:/ only)."
    )
    name: str | None = None
    version: int | None = None
    run_id: str | None = None
    path: str = Field(description="The local model directory that was loaded.")
    flavor: str
    manifest_sha256: str = Field(description="sha256 of the directory's shipyard-model.json (MLmodel for MLflow).")


class InputFileInfo(_Out):
    path: str
    format: InputFormat
    bytes: int
    sha256: str
    rows: int | None = Field(default=None, description="From the Parquet footer; None for CSV until read.")


class InputInfo(_Out):
    path: str
    bytes: int
    sha256: str = Field(description="sha256 over every input file's bytes, files in order.")
    files: list[InputFileInfo]


class OutputInfo(_Out):
    path: str
    sha256: str | None = None
    bytes: int | None = None
    columns: list[str] = Field(default_factory=list)


class JobOptions(_Out):
    keys: list[str]
    chunk_rows: int
    workers: int
    skip_errors: bool
    resume: bool
    prediction_log: str | None = Field(default=None, description="Where every predicted row was logged, if anywhere.")


class RowCounts(_Out):
    """Rows of the finished chunks: all of the input once the job has succeeded."""

    input: int = 0
    output: int = 0
    failed: int = 0


class ChunkCounts(_Out):
    total: int | None = Field(
        default=None, description="Chunks in the input; None if the job stopped before reading all of a CSV input."
    )
    finished: int = 0
    computed: int = Field(default=0, description="Chunks predicted by this run.")
    reused: int = Field(default=0, description="Chunks taken from the checkpoint of an interrupted run (--resume).")


class JobError(_Out):
    code: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class BatchJobRecord(_Out):
    """Written to ``<output>.job.json`` and appended to ``$SHIPYARD_HOME/batch-jobs.jsonl``."""

    kind: Literal["batch_prediction"] = "batch_prediction"
    format: int = RECORD_FORMAT
    job_id: str
    status: JobStatus
    model: ModelInfo
    input: InputInfo
    output: OutputInfo
    options: JobOptions
    rows: RowCounts
    chunks: ChunkCounts
    failures: list[FailedRange] = Field(default_factory=list)
    failures_truncated: int = Field(default=0, description="Failed ranges left out of `failures` (it keeps 1,000).")
    started_at: datetime
    finished_at: datetime
    duration_s: float
    rows_per_s: float = Field(description="Rows predicted by this run per second of its duration.")
    checkpoint: str | None = Field(
        default=None, description="The kept checkpoint (parts directory) when the job did not finish."
    )
    error: JobError | None = None
