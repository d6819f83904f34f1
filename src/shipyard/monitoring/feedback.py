"""Feedback: ground-truth labels that arrive after the predictions, joined to them by id.

**Where labels go.** A Parquet log beside the prediction log, one file per accepted batch::

    <feedback log>/project=<p>/endpoint=<e>/date=<day received>/part-<uuid>.parquet

not a database table: labels come in the prediction log's volumes (one per prediction), are
only ever read joined to predictions, and DuckDB joins two Parquet logs directly
(:class:`~shipyard.monitoring.logstore.LogStore` views ``feedback`` and
``predictions_with_feedback``); retention and compaction treat both logs alike. A batch is
durable once its file is written, flushed to disk and renamed into place; a reader sees all
of it or none.

**Keys.** Each label names its prediction by ``request_id`` (the ``X-Request-ID`` of the
request; add ``row`` to label one row of a multi-row request, else the label applies to every
row) or by ``key`` (the caller's ``X-Shipyard-Key`` header, the log's ``user_key``).

**Late, duplicate and unknown labels.** Labels may come any time after the prediction; the
views join whatever is there when queried. A label for a prediction that already has one is a
*duplicate*: kept, and the latest received wins (``received_at``, then position in the
batch). A label whose id matches no logged prediction is *unknown*: counted and reported
(with a sample of ids) and still kept, since a prediction becomes visible in the log only
when its file is published (``roll_interval_s`` later at most) — the label joins once it is.

Columns: ``request_id``, ``row``, ``key``, ``label`` (text), ``label_value`` (the label as a
number when it is one, for regression and numeric classes), ``ts`` (when the truth was
observed; the sender's, else when received), ``received_at``, ``seq`` (position in the
batch), ``sender`` (who sent it).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shipyard.errors import InvalidArgument
from shipyard.monitoring.logstore import LogStore, publish, stage_table
from shipyard.serving.settings import LABEL_PATTERN

MAX_FEEDBACK_ITEMS = 100_000
UNKNOWN_SAMPLE = 20

Label = bool | int | float | str


class FeedbackItem(BaseModel):
    """One ground-truth label: for a request (``request_id``, optionally one ``row``) or a ``key``."""

    model_config = ConfigDict(extra="forbid")

    request_id: str | None = Field(default=None, min_length=1, max_length=256)
    row: int | None = Field(default=None, ge=0, description="One row of a multi-row request; unset: every row.")
    key: str | None = Field(default=None, min_length=1, max_length=256, description="The prediction's user_key.")
    label: Label
    ts: datetime | None = Field(default=None, description="When the truth was observed; unset: when received.")

    @model_validator(mode="after")
    def _one_key(self) -> FeedbackItem:
        if (self.request_id is None) == (self.key is None):
            raise ValueError("give exactly one of request_id and key")
        if self.row is not None and self.request_id is None:
            raise ValueError("row needs request_id")
        if isinstance(self.label, float) and not math.isfinite(self.label):
            raise ValueError("label must be finite")
        return self


class FeedbackResult(BaseModel):
    accepted: int = Field(description="Labels stored.")
    duplicates: int = Field(description="Labels for a prediction that already had one (the latest wins).")
    unknown: int = Field(description="Labels whose id matches no logged prediction (yet); stored all the same.")
    unknown_ids_sample: list[str] = Field(description=f"Up to {UNKNOWN_SAMPLE} of the unknown ids.")


def check_endpoint_name(endpoint: str) -> None:
    import re

    if not re.match(LABEL_PATTERN, endpoint):
        raise InvalidArgument(
            f"endpoint {endpoint!r} is not a valid name (letters, digits, '_', '.', '-')", {"field": "endpoint"}
        )


def _label_value(label: Label) -> float | None:
    if isinstance(label, bool):
        return float(label)
    if isinstance(label, int | float):
        return float(label)
    try:
        value = float(label)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _label_text(label: Label) -> str:
    if isinstance(label, bool):
        return str(int(label))
    if isinstance(label, float) and label.is_integer():
        return str(int(label))
    return str(label)


def _table(items: Sequence[FeedbackItem], received: datetime, sender: str) -> Any:
    import pyarrow as pa  # type: ignore[import-untyped]

    stamp = pa.timestamp("us", tz="UTC")
    return pa.table(
        {
            "request_id": pa.array([i.request_id for i in items], pa.string()),
            "row": pa.array([i.row for i in items], pa.int64()),
            "key": pa.array([i.key for i in items], pa.string()),
            "label": pa.array([_label_text(i.label) for i in items], pa.string()),
            "label_value": pa.array([_label_value(i.label) for i in items], pa.float64()),
            "ts": pa.array([(i.ts or received).astimezone(UTC) for i in items], stamp),
            "received_at": pa.array([received] * len(items), stamp),
            "seq": pa.array(range(len(items)), pa.int64()),
            "sender": pa.array([sender] * len(items), pa.string()),
        }
    )


def _write(directory: Path, table: Any) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    name = f"part-{uuid.uuid4().hex}.parquet"
    staging = directory / f".{name}.tmp"
    stage_table(table, staging)
    publish(staging, directory / name)


_COUNTS = """
WITH b AS (SELECT *, row_number() OVER (PARTITION BY request_id, "row", "key" ORDER BY seq) AS nth FROM batch)
SELECT
  (SELECT count(*) FROM b WHERE nth > 1)
  + (SELECT count(*) FROM b WHERE nth = 1 AND EXISTS (
       SELECT 1 FROM feedback_raw f
       WHERE f.request_id IS NOT DISTINCT FROM b.request_id AND f."row" IS NOT DISTINCT FROM b."row"
         AND f."key" IS NOT DISTINCT FROM b."key")) AS duplicates
"""
_UNKNOWN = """
SELECT coalesce(b.request_id, b."key") AS id FROM batch b
WHERE (b.request_id IS NOT NULL AND NOT EXISTS (
         SELECT 1 FROM predictions p WHERE p.request_id = b.request_id AND (b."row" IS NULL OR p."row" = b."row")))
   OR (b."key" IS NOT NULL AND NOT EXISTS (SELECT 1 FROM predictions p WHERE p.user_key = b."key"))
ORDER BY b.seq
"""


def record_feedback(
    store: LogStore,
    project: str,
    endpoint: str,
    items: Sequence[FeedbackItem],
    *,
    sender: str = "",
    now: datetime | None = None,
) -> FeedbackResult:
    """Store ``items`` for ``endpoint``'s predictions; count duplicates and unknown ids."""
    check_endpoint_name(endpoint)
    if not items:
        raise InvalidArgument("no feedback: the body is an empty list", {"field": "body"})
    if len(items) > MAX_FEEDBACK_ITEMS:
        raise InvalidArgument(
            f"{len(items)} labels in one request; send at most {MAX_FEEDBACK_ITEMS} at a time", {"field": "body"}
        )
    received = (now or datetime.now(UTC)).astimezone(UTC)
    table = _table(items, received, sender)

    def counts(con: Any) -> tuple[int, list[str], int]:
        con.register("batch", table)
        duplicates = int(con.execute(_COUNTS).fetchone()[0])
        unknown = [str(r[0]) for r in con.execute(_UNKNOWN).fetchall()]
        return duplicates, list(dict.fromkeys(unknown))[:UNKNOWN_SAMPLE], len(unknown)

    duplicates, sample, unknown_rows = store.run(counts, project=project, endpoint=endpoint)
    directory = store.feedback_root / f"project={project}" / f"endpoint={endpoint}" / f"date={received.date()}"
    _write(directory, table)
    return FeedbackResult(accepted=len(items), duplicates=duplicates, unknown=unknown_rows, unknown_ids_sample=sample)


__all__ = [
    "MAX_FEEDBACK_ITEMS",
    "FeedbackItem",
    "FeedbackResult",
    "check_endpoint_name",
    "record_feedback",
]
