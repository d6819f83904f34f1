"""How one model server behaves: batching, overload, deadlines, shutdown, the prediction log.

Built once (by ``shipyard serve`` from its flags, or by a test) and handed to
:func:`shipyard.serving.create_serving_app`; nothing here reads the environment.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# A hive partition value (project, endpoint): the same characters as a model name, so it is a safe path part.
LABEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$"


class PredictionLogSettings(BaseModel):
    """Where and how the prediction log is written (:mod:`shipyard.serving.predlog`).

    Shared by ``shipyard serve`` and ``shipyard predict``, so both write the same layout."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = Field(
        default=None,
        description="Root of the log: a local directory or an fsspec URL (s3://bucket/prefix). Unset: no log.",
    )
    sample_rate: float = Field(
        default=1.0, ge=0, le=1, description="Share of requests logged, decided per request id (all its rows or none)."
    )
    buffer_records: int = Field(
        default=50_000,
        ge=1,
        le=10_000_000,
        description="Records (rows) waiting in memory for the writer at most; more are dropped and counted.",
    )
    flush_records: int = Field(
        default=5_000,
        ge=1,
        le=10_000_000,
        description="Write a row group once this many records wait (at most buffer_records).",
    )
    flush_interval_s: float = Field(
        default=5.0, gt=0, le=3600, description="Write a row group at least this often while records wait."
    )
    roll_interval_s: float = Field(
        default=60.0,
        gt=0,
        le=86_400,
        description="Publish a file (readers see it from then on) at this age at the latest.",
    )
    roll_bytes: int = Field(default=64 * 1024 * 1024, ge=1024, description="Publish a file once it reaches this size.")
    project: str = Field(default="default", pattern=LABEL_PATTERN, description="The project=... partition.")
    endpoint: str | None = Field(
        default=None, pattern=LABEL_PATTERN, description="The endpoint=... partition. Unset: the model's name."
    )


class ServingSettings(BaseModel):
    """Knobs of the data plane. Every limit is per model version."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    server_name: str = Field(default="shipyard", min_length=1, description="Name in the V2 server metadata.")
    max_batch_size: int = Field(
        default=32, ge=1, le=4096, description="Requests coalesced into one model call at most (1: no batching)."
    )
    max_batch_wait_ms: float = Field(
        default=2.0,
        ge=0,
        le=1000,
        description="While the model is busy, how long (from its oldest request's arrival) a batch may wait "
        "for more requests. A request that finds the model idle never waits.",
    )
    max_queue: int = Field(default=256, ge=1, le=1_000_000, description="Requests waiting per model; more get 429.")
    max_concurrency: int = Field(default=1, ge=1, le=64, description="Model calls running at once per model.")
    timeout_s: float = Field(
        default=60.0, gt=0, le=3600, description="Server-side deadline per request; callers may lower it, not raise it."
    )
    grace_period_s: float = Field(default=30.0, ge=0, le=3600, description="On SIGTERM: time to finish in-flight work.")
    drain_delay_s: float = Field(
        default=0.0,
        ge=0,
        le=600,
        description="On SIGTERM: keep accepting connections this long while reporting not-ready, "
        "so load balancers stop routing first.",
    )
    max_body_bytes: int = Field(default=64 * 1024 * 1024, ge=1024, description="Larger request bodies get 413.")
    memory_budget_mb: float | None = Field(
        default=None,
        gt=0,
        description="MiB the loaded models may take together (their estimates, see shipyard.serving.memory); "
        "a load that does not fit evicts the least recently used idle, unpinned model or is refused. "
        "None: no limit. The whole server's, not per model.",
    )
    warmup: bool = Field(default=True, description="Run the model once on its input example before ready.")
    gc_freeze: bool = Field(
        default=True,
        description="After each load (and warm-up), collect once and gc.freeze() what is left, so the garbage "
        "collector never walks the loaded models and their libraries again; in the processes shipyard serve "
        "runs, not in a process that embeds the app (shipyard.serving.heap).",
    )
    gc_threshold: int | None = Field(
        default=10_000,
        ge=100,
        le=1_000_000,
        description="The collector's first threshold in a server process (gc.set_threshold; CPython's default "
        "is 700): requests free their objects by reference counting, so collecting less often only saves "
        "time. None: leave it as it is.",
    )
    inline_compute_ms: float = Field(
        default=2.5,
        ge=0,
        le=100,
        description="A model call expected to take less than this (measured per model) runs on the event loop "
        "instead of the model's thread, so a fast model pays no thread hand-off; the loop is blocked that long "
        "at most. 0: always use the model's threads (shipyard.serving.batching).",
    )
    lean_imports: bool = Field(
        default=True,
        description="Load a scikit-learn or ONNX model with a tensor signature without importing pandas "
        "(scikit-learn imports it only in case its input is a DataFrame): about 80 MB less per server. "
        "Loads that need pandas retry with it (shipyard.serving.imports).",
    )
    http: Literal["native", "uvicorn"] = Field(
        default="native",
        description="The HTTP/1.1 front of shipyard serve: 'native' (shipyard.serving.native_http, requests go "
        "to the app without ASGI's per-request cost) or 'uvicorn' (uvicorn's own protocol running the ASGI app). "
        "Same routes, answers and lifecycle either way.",
    )
    prediction_log: PredictionLogSettings = Field(
        default_factory=PredictionLogSettings, description="The prediction log (off unless its url is set)."
    )


__all__ = ["PredictionLogSettings", "ServingSettings"]
