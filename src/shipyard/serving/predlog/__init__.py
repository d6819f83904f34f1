"""The prediction log: every request/response pair of the data plane (or a batch job)
as Parquet records, written in the background, for monitoring to read with DuckDB.

Layout (hive-style, so ``read_parquet('<root>/**/*.parquet', hive_partitioning=true)``
and ``pyarrow.dataset(..., partitioning="hive")`` see the keys as columns)::

    <root>/project=<p>/endpoint=<e>/model=<name>/version=<v>/date=YYYY-MM-DD/part-<uuid>.parquet

``<root>`` is a local directory or an fsspec URL (``s3://bucket/prefix``); ``date`` is the
UTC day of the request's arrival. A file appears only when complete (see
:mod:`~shipyard.serving.predlog.sinks`); files may differ in their feature and output
columns (another version, a new output), so read them with ``union_by_name=true``. With
pyarrow, give the keys their types (:data:`PARTITION_SCHEMA`:
``partitioning=ds.partitioning(PARTITION_SCHEMA, flavor="hive")``), or it takes
``version=3`` for an integer, which clashes with the files' ``version`` strings.

One record per input row (a multi-row request shares its ``request_id``; ``row`` numbers
its rows); a request refused before its rows were decoded is one record with ``rows`` 0.

==============  ======================  ==================================================
column          type                    meaning
==============  ======================  ==================================================
request_id      string                  ``X-Request-ID`` (the caller's, or the minted one)
row             int64                   the row's index in its request (a batch job: in its input)
rows            int32                   rows in the request (0: none decoded)
ts              timestamp[us, UTC]      when the request arrived
model, version  string                  the model version that answered
protocol        string                  ``v2``, ``v1``, ``mlflow`` (``batch`` for ``shipyard predict``)
status          int32                   the HTTP status of the reply
latency_ms      double                  arrival to reply, in milliseconds
error           string                  the error message; null on success
user_key        string                  the caller's ``X-Shipyard-Key`` header, to join feedback by
f_<feature>     per feature             the input as the model saw it (after validation and casting)
prediction…     per output              ``prediction`` (one array), ``prediction_<name>`` (a table's columns)
proba           list<double>            class probabilities, when ``predict_proba`` ran
==============  ======================  ==================================================

Feature and output columns are described in :mod:`~shipyard.serving.predlog.columns`.
Sampling is by a hash of the request id (:class:`Sampler`): a request is logged whole or
not at all, the same on every replica.

Importing this package does not import pyarrow: the Parquet pieces (:data:`BASE_SCHEMA`,
:func:`to_table`, :class:`PredictionLogger`, the sinks) load on first use, so a server or a
batch job without a prediction log never pays for them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from shipyard.serving.predlog.records import Capture, Partition, Sampler
from shipyard.serving.settings import PredictionLogSettings

if TYPE_CHECKING:
    from shipyard.serving.metrics import PredictionLogMetrics
    from shipyard.serving.predlog.columns import BASE_SCHEMA, PARTITION_SCHEMA, to_table
    from shipyard.serving.predlog.logger import PredictionLogger
    from shipyard.serving.predlog.sinks import ParquetSink, RollResult, Sink, open_sink
    from shipyard.settings import ArtifactSettings

# Public names whose modules import pyarrow: name -> module of this package.
_LAZY = {
    "BASE_SCHEMA": "columns",
    "PARTITION_SCHEMA": "columns",
    "to_table": "columns",
    "PredictionLogger": "logger",
    "ParquetSink": "sinks",
    "RollResult": "sinks",
    "Sink": "sinks",
    "open_sink": "sinks",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def create_logger(
    settings: PredictionLogSettings,
    metrics: PredictionLogMetrics,
    *,
    sink: Sink | None = None,
    artifacts: ArtifactSettings | None = None,
) -> PredictionLogger | None:
    """The logger ``settings`` ask for (None when it has no url and no ``sink`` is given);
    ``sink`` replaces the one its url names (tests inject slow ones)."""
    if sink is None:
        if not settings.url:
            return None
        from shipyard.serving.predlog.sinks import open_sink

        sink = open_sink(settings, artifacts)
    from shipyard.serving.predlog.logger import PredictionLogger

    return PredictionLogger(settings, sink, metrics)


__all__ = [
    "BASE_SCHEMA",
    "Capture",
    "PARTITION_SCHEMA",
    "ParquetSink",
    "Partition",
    "PredictionLogger",
    "RollResult",
    "Sampler",
    "Sink",
    "create_logger",
    "open_sink",
    "to_table",
]
