"""How one model server behaves: batching, overload, deadlines, shutdown.

Built once (by ``shipyard serve`` from its flags, or by a test) and handed to
:func:`shipyard.serving.create_serving_app`; nothing here reads the environment.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


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
    warmup: bool = Field(default=True, description="Run the model once on its input example before ready.")


__all__ = ["ServingSettings"]
