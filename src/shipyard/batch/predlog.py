"""A batch job's prediction log: the records ``shipyard serve --prediction-log`` writes,
for every row a job predicts (``shipyard predict --prediction-log URL``).

The same module writes them (:mod:`shipyard.serving.predlog`), so they land in the same
layout and columns, and monitoring reads served and batch predictions alike::

    <root>/project=<p>/endpoint=<e>/model=<name>/version=<v>/date=YYYY-MM-DD/part-<uuid>.parquet

- ``request_id`` is the job's id (``job_id`` in its record), the batch job tag shared by
  every row the job predicted; ``row`` is the row's position in the whole input (its
  ``row_index`` in the output); ``rows`` the rows of the model call that predicted it
  (its chunk, unless failures split the chunk); ``protocol`` is ``batch``; ``ts`` when
  its chunk started; ``latency_ms`` is null.
- Rows the model failed on (``--skip-errors`` or not) are logged too, with the status
  the server would have answered (400 for input the model rejected, else 500) and the
  error: one record per failing range (as the job reports them), at its first row,
  with ``rows`` 0 and no features.
- ``endpoint`` defaults to the model's name; ``model``/``version`` are the registered
  ones, or for a directory its name and the start of its manifest's sha256 (as
  ``shipyard serve DIR`` names them).
- Each worker process publishes one file per chunk as soon as the chunk is predicted (its
  part file written first). A file that cannot be written fails the job, which
  ``--resume`` continues: a chunk predicted again after a crash may then appear twice,
  under the ids of both runs (keep the latest ``ts`` per ``row``). Chunks a resumed job
  reuses are not logged again. Every row is logged (no sampling).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from shipyard.errors import Unavailable
from shipyard.models.signature import ModelSignature, TensorSpec
from shipyard.serving.inputs import Prepared, prepare
from shipyard.serving.predlog import Capture, Partition
from shipyard.serving.predlog.records import utc_date
from shipyard.serving.settings import PredictionLogSettings
from shipyard.settings import ArtifactSettings

PROTOCOL = "batch"


@dataclass(frozen=True)
class BatchLog:
    """Where a job logs its predictions; picklable, handed to every worker process."""

    settings: PredictionLogSettings
    job_id: str  # every record's request_id
    model: str
    version: str
    artifacts: ArtifactSettings | None = None  # s3:// uses its s3_* settings

    @property
    def endpoint(self) -> str:
        return self.settings.endpoint or self.model


@dataclass(frozen=True)
class Segment:
    """Rows ``offset``..``offset + rows`` of a chunk: predicted (``output``) or failed (``error``)."""

    offset: int
    rows: int
    features: Prepared | None
    output: Any = None
    error: str | None = None
    status: int = 200


def prepared(signature: ModelSignature | None, frame: Any) -> Prepared | None:
    """The features of ``frame`` (a DataFrame the model predicted) as the model saw them,
    fitted to its signature the way the server fits a request; None if they do not fit."""
    if signature is not None and not signature.takes_columns:
        specs = [s for s in signature.inputs if isinstance(s, TensorSpec)]
        data: Any = frame.to_numpy() if len(specs) == 1 else {str(c): frame[c].to_numpy() for c in frame.columns}
    else:
        data = {str(c): frame[c].to_numpy() for c in frame.columns}
    try:
        return prepare(signature, data)
    except Exception:  # the model took them, so this is unexpected: log the predictions alone
        return None


class BatchLogWriter:
    """In one worker process: writes each chunk's records and publishes them at once."""

    def __init__(self, log: BatchLog) -> None:
        self.log = log
        self._sink: Any = None

    def write(self, first_row: int, started: float, segments: list[Segment]) -> int:
        """Log the segments of the chunk starting at input row ``first_row``; the records written."""
        from shipyard.serving.predlog.columns import to_table
        from shipyard.serving.predlog.sinks import open_sink

        if not segments:
            return 0
        log = self.log
        captures = [
            Capture(
                request_id=log.job_id,
                ts=started,
                model=log.model,
                version=log.version,
                protocol=PROTOCOL,
                status=segment.status,
                latency_ms=None,
                features=segment.features,
                outputs=None if segment.error is not None else {"predict": segment.output},
                error=segment.error,
                first_row=first_row + segment.offset,
            )
            for segment in segments
        ]
        table = to_table(captures)
        partition = Partition(log.settings.project, log.endpoint, log.model, log.version, utc_date(started))
        try:
            if self._sink is None:
                self._sink = open_sink(log.settings, log.artifacts)
            self._sink.write(partition, table)
            result = self._sink.roll(time.monotonic(), everything=True)
        except Exception as exc:
            raise Unavailable(f"the prediction log could not be written to {log.settings.url}: {exc}") from exc
        if result.lost:
            _, rows, reason = result.lost[0]
            raise Unavailable(f"the prediction log lost {rows} records ({reason}) writing to {log.settings.url}")
        return int(table.num_rows)


__all__ = ["PROTOCOL", "BatchLog", "BatchLogWriter", "Segment", "prepared"]
