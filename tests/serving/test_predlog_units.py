"""The prediction log's parts on their own: records to Arrow, the sampler, the Parquet
sink's rolling and publishing, the logger's buffer, drops and shutdown."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest
from prometheus_client import CollectorRegistry

from shipyard.serving import predlog
from shipyard.serving.inputs import Prepared
from shipyard.serving.metrics import PredictionLogMetrics
from shipyard.serving.predlog import Capture, ParquetSink, Partition, PredictionLogger, RollResult, Sampler, Sink
from shipyard.serving.predlog.columns import to_table
from shipyard.serving.settings import PredictionLogSettings

PARTITION = Partition("default", "iris", "iris", "1", "2026-01-02")


def capture(request_id: str = "r", *, features: Prepared | None = None, **fields: Any) -> Capture:
    defaults: dict[str, Any] = {
        "ts": 1_767_312_000.25,  # 2026-01-02T00:00:00.25Z
        "model": "iris",
        "version": "1",
        "protocol": "v2",
        "status": 200,
        "latency_ms": 1.5,
    }
    return Capture(request_id=request_id, features=features, **{**defaults, **fields})


def columns(rows: dict[str, list[Any]], key: bool = True) -> Prepared:
    values = {name: np.asarray(v) for name, v in rows.items()}
    n = len(next(iter(values.values())))
    layout = ("columns", tuple((name, v.dtype.str, v.shape[1:]) for name, v in values.items())) if key else None
    return Prepared("columns", values, n, layout)


def test_public_surface_is_sorted_and_resolves() -> None:
    assert predlog.__all__ == sorted(predlog.__all__)
    for name in predlog.__all__:
        assert getattr(predlog, name) is not None


# --- records to Arrow -------------------------------------------------------------------


def test_one_record_per_row_sharing_the_request_id() -> None:
    table = to_table(
        [
            capture(
                "a",
                features=columns({"x": [1.0, 2.0, 3.0], "kind": ["p", "q", "r"]}),
                outputs={"predict": np.array([10, 20, 30]), "predict_proba": np.array([[0.1, 0.9]] * 3)},
                user_key="cust-1",
            ),
            capture("b", features=columns({"x": [4.0], "kind": ["s"]}), outputs={"predict": np.array([40])}),
        ]
    )
    assert table.schema.names[:11] == predlog.BASE_SCHEMA.names
    assert table.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    rows = table.to_pylist()
    assert [(r["request_id"], r["row"], r["rows"]) for r in rows] == [
        ("a", 0, 3),
        ("a", 1, 3),
        ("a", 2, 3),
        ("b", 0, 1),
    ]
    assert [r["f_x"] for r in rows] == [1.0, 2.0, 3.0, 4.0]
    assert [r["f_kind"] for r in rows] == ["p", "q", "r", "s"]
    assert [r["prediction"] for r in rows] == [10, 20, 30, 40]
    assert [r["proba"] for r in rows] == [[0.1, 0.9]] * 3 + [None]  # only where predict_proba ran
    assert [r["user_key"] for r in rows] == ["cust-1"] * 3 + [None]
    assert rows[0]["ts"].isoformat() == "2026-01-02T00:00:00.250000+00:00"
    assert {r["error"] for r in rows} == {None}


def test_failed_requests_have_one_record_without_outputs() -> None:
    table = to_table(
        [
            capture("ok", features=columns({"x": [1.0]}), outputs={"predict": np.array([1.5])}),
            capture("bad", status=400, error="the request body is not valid JSON"),
            capture("boom", status=500, features=columns({"x": [7.0, 8.0]}), error="model raised"),
        ]
    )
    rows = table.to_pylist()
    assert [(r["request_id"], r["row"], r["rows"], r["status"]) for r in rows] == [
        ("ok", 0, 1, 200),
        ("bad", 0, 0, 400),
        ("boom", 0, 2, 500),
        ("boom", 1, 2, 500),
    ]
    assert [r["f_x"] for r in rows] == [1.0, None, 7.0, 8.0]  # the failed model still saw its features
    assert [r["prediction"] for r in rows] == [1.5, None, None, None]
    assert rows[1]["error"] == "the request body is not valid JSON"


def test_tensor_models_get_a_column_per_position_and_lists_beyond() -> None:
    two_d = Prepared("tensor", np.array([[1.0, 2.0], [3.0, 4.0]]), 2, ("tensor",))
    images = Prepared("tensor", np.arange(8).reshape(2, 2, 2), 2, ("tensor", "3d"))
    named = Prepared("tensors", {"a": np.array([1, 2]), "b": np.array([[5, 6], [7, 8]])}, 2, ("tensors",))
    assert to_table([capture(features=two_d)]).select(["f_0", "f_1"]).to_pydict() == {
        "f_0": [1.0, 3.0],
        "f_1": [2.0, 4.0],
    }
    assert to_table([capture(features=images)]).column("f_input").to_pylist() == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert to_table([capture(features=named)]).select(["f_a", "f_b_0", "f_b_1"]).to_pydict() == {
        "f_a": [1, 2],
        "f_b_0": [5, 7],
        "f_b_1": [6, 8],
    }


def test_table_outputs_are_prediction_columns() -> None:
    frame = pd.DataFrame({"label": ["a", "b"], "score": [0.5, 0.25]})
    table = to_table([capture(features=columns({"x": [1.0, 2.0]}), outputs={"predict": frame})])
    assert table.select(["prediction_label", "prediction_score"]).to_pydict() == {
        "prediction_label": ["a", "b"],
        "prediction_score": [0.5, 0.25],
    }


def test_mixed_layouts_in_one_flush_line_up_with_their_rows() -> None:
    """Requests of several layouts (another column set, no key, a wider vector) and gaps
    in one table: every value stays on its own row, gaps are null."""
    table = to_table(
        [
            capture("a", features=columns({"x": [1.0, 2.0]})),
            capture("b", status=400, error="bad"),
            capture("c", features=columns({"x": [3.0], "y": [9]})),
            capture("d", features=columns({"x": [4.0]}, key=False), outputs={"predict": np.array([[1.0, 2.0]])}),
            capture("e", features=columns({"x": [5.0]}), outputs={"predict": np.array([[1.0, 2.0, 3.0]])}),
        ]
    )
    data = table.to_pydict()
    assert data["request_id"] == ["a", "a", "b", "c", "d", "e"]
    assert data["f_x"] == [1.0, 2.0, None, 3.0, 4.0, 5.0]
    assert data["f_y"] == [None, None, None, 9, None, None]
    assert data["prediction"] == [None, None, None, None, [1.0, 2.0], [1.0, 2.0, 3.0]]


def test_values_arrow_cannot_take_are_kept_as_text() -> None:
    mixed = Prepared("columns", {"x": np.array([1, "two", 3.0], dtype=object)}, 3, ("columns", "mixed"))
    assert to_table([capture(features=mixed)]).column("f_x").to_pylist() == ["1", "two", "3.0"]


def test_a_packed_capture_round_trips_and_is_not_tracked_by_the_gc() -> None:
    import gc

    frame = pd.DataFrame({"label": ["a"]})
    originals = [
        capture("a", features=columns({"x": [1.0], "k": ["p"]}), outputs={"predict": np.array([2])}, user_key="u"),
        capture("b", features=Prepared("tensor", np.ones((2, 3)), 2, None), first_row=7),
        capture("c", status=400, error="bad"),
        capture("d", features=columns({"x": [1.0]}), outputs={"predict": frame}),
    ]
    packed = [c.packed() for c in originals]
    assert [type(p) for p in packed] == [tuple] * 4
    gc.collect()
    # plain arrays and strings: the collector stops tracking them at once (a DataFrame is a container)
    assert [gc.is_tracked(p) for p in packed] == [False, False, False, True]
    for original, round_trip in zip(originals, map(Capture.unpacked, packed), strict=True):
        assert round_trip.request_id == original.request_id
        assert round_trip.records == original.records
        assert to_table([round_trip]).equals(to_table([original]))


# --- sampling ---------------------------------------------------------------------------


def test_sampling_keeps_its_share_and_the_same_ids_every_time() -> None:
    ids = [f"request-{i}" for i in range(20_000)]
    sample = Sampler(0.25)
    kept = [i for i in ids if sample(i)]
    assert abs(len(kept) / len(ids) - 0.25) < 0.02
    assert kept == [i for i in ids if Sampler(0.25)(i)]  # deterministic: another sampler agrees
    assert set(kept) <= {i for i in ids if Sampler(0.5)(i)}  # a higher rate keeps a superset
    assert all(Sampler(1.0)(i) for i in ids[:100])
    assert not any(Sampler(0.0)(i) for i in ids[:100])


# --- the Parquet sink -------------------------------------------------------------------


def _table(n: int, **extra: list[Any]) -> Any:
    return to_table([capture(f"r{i}", features=columns({"x": [float(i)], **extra})) for i in range(n)])


def test_files_appear_whole_only_when_rolled(tmp_path: Path) -> None:
    sink = ParquetSink(str(tmp_path), roll_bytes=64 * 1024 * 1024, roll_interval_s=60)
    sink.write(PARTITION, _table(3))
    sink.write(PARTITION, _table(2))
    directory = tmp_path / PARTITION.path
    assert list(directory.glob("*.parquet")) == []  # still open: only a hidden temporary file
    assert [p.name.startswith(".part-") and p.name.endswith(".parquet.tmp") for p in directory.iterdir()] == [True]
    assert sink.roll(time.monotonic()).published == []  # not due yet
    result = sink.roll(time.monotonic() + 60)
    assert result.published == [(PARTITION, 5)]
    (published,) = directory.glob("*.parquet")
    assert published.name.startswith("part-")
    assert len(published.stem) == len("part-") + 32
    assert [p for p in directory.iterdir() if p.name.startswith(".")] == []
    assert pq.ParquetFile(published).metadata.num_row_groups == 2  # one per write
    assert pq.read_table(published).column("request_id").to_pylist() == ["r0", "r1", "r2", "r0", "r1"]


def test_files_roll_by_size_and_on_new_columns(tmp_path: Path) -> None:
    sink = ParquetSink(str(tmp_path), roll_bytes=1024, roll_interval_s=3600)
    sink.write(PARTITION, _table(200))  # well past 1 KiB: published at once
    assert sink.roll(time.monotonic()).published == [(PARTITION, 200)]
    sink = ParquetSink(str(tmp_path), roll_bytes=64 * 1024 * 1024, roll_interval_s=3600)
    sink.write(PARTITION, _table(2, y=[1]))
    sink.write(PARTITION, _table(1))  # a subset of the columns: same file, y null
    sink.write(PARTITION, _table(1, z=["new"]))  # a new column: a new file
    assert sink.close().published == [(PARTITION, 3), (PARTITION, 1)]
    assert len(list((tmp_path / PARTITION.path).glob("*.parquet"))) == 3


def test_a_file_that_cannot_be_published_is_retried_then_counted_lost(tmp_path: Path) -> None:
    class Flaky:
        def __init__(self) -> None:
            self.calls = 0

        def put_file(self, source: str, target: str) -> None:
            self.calls += 1
            raise OSError("the bucket is unreachable")

    flaky = Flaky()
    sink = ParquetSink("memory://x", roll_bytes=1024 * 1024, roll_interval_s=1, fs=flaky, root="x")
    sink.write(PARTITION, _table(4))
    now = time.monotonic() + 1
    first = sink.roll(now)
    assert (first.published, first.lost, flaky.calls) == ([], [], 1)  # kept for a retry
    assert sink.roll(now).lost == []  # backing off: not tried again yet
    assert flaky.calls == 1
    final = sink.close()  # shutdown: one last try, then it is lost
    assert [(p, rows) for p, rows, _ in final.lost] == [(PARTITION, 4)]
    assert "unreachable" in final.lost[0][2]
    assert flaky.calls == 2


# --- the logger -------------------------------------------------------------------------


class MemorySink(Sink):
    """Keeps tables in memory; ``gate`` (cleared) blocks writes until set; ``fail`` raises."""

    def __init__(self) -> None:
        self.tables: list[Any] = []
        self.pending: list[tuple[Partition, int]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.fail = False

    def write(self, partition: Partition, table: Any) -> None:
        self.entered.set()
        self.gate.wait(30)
        if self.fail:
            raise OSError("disk full")
        self.tables.append(table)
        self.pending.append((partition, table.num_rows))

    def roll(self, now: float, *, everything: bool = False) -> RollResult:
        published, self.pending = self.pending, []
        return RollResult(published=published)

    def rows(self) -> int:
        return sum(t.num_rows for t in self.tables)


def _logger(sink: Sink, **settings: Any) -> tuple[PredictionLogger, CollectorRegistry]:
    registry = CollectorRegistry()
    options = {"url": "unused", "buffer_records": 100, "flush_records": 10, "flush_interval_s": 0.05, **settings}
    return PredictionLogger(PredictionLogSettings(**options), sink, PredictionLogMetrics(registry)), registry


def _metric(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def _wait_for(condition: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.01)


def test_a_full_buffer_drops_and_counts_instead_of_waiting() -> None:
    sink = MemorySink()
    sink.gate.clear()
    logger, registry = _logger(sink, buffer_records=30, flush_records=5)
    logger.start()
    three_rows = columns({"x": [1.0, 2.0, 3.0]})
    assert logger.offer(capture("first", features=three_rows))
    sink.entered.wait(5)  # the writer is stuck in the sink from now on
    offered = time.perf_counter()
    accepted = [logger.offer(capture(f"r{i}", features=three_rows)) for i in range(50)]
    assert time.perf_counter() - offered < 5  # no offer waited for the sink (a generous bound)
    assert accepted == [True] * 10 + [False] * 40  # 30 records (10 requests of 3 rows) fit
    assert logger.buffered == 30
    assert _metric(registry, "shipyard_prediction_log_buffered_records") == 30
    assert (
        _metric(registry, "shipyard_prediction_log_dropped_total", model="iris", version="1", reason="buffer_full")
        == 120
    )
    sink.gate.set()
    assert logger.close(10)
    assert sink.rows() == 3 + 30
    assert _metric(registry, "shipyard_prediction_log_records_total", model="iris", version="1") == 33
    assert _metric(registry, "shipyard_prediction_log_buffered_records") == 0


def test_write_errors_drop_the_batch_back_off_and_recover() -> None:
    sink = MemorySink()
    sink.fail = True
    logger, registry = _logger(sink, flush_records=1)
    logger.start()
    logger.offer(capture("lost"))
    _wait_for(lambda: _metric(registry, "shipyard_prediction_log_dropped_total", model="iris", version="1",
                              reason="write_error") == 1)  # fmt: skip
    sink.fail = False
    logger.offer(capture("kept"))  # written after the backoff (0.5 s)
    _wait_for(lambda: sink.rows() == 1)
    assert sink.tables[0].column("request_id").to_pylist() == ["kept"]
    assert logger.close(10)
    assert _metric(registry, "shipyard_prediction_log_write_duration_seconds_count") >= 2


def test_a_large_flush_is_converted_in_slices_into_one_table() -> None:
    from shipyard.serving.predlog.logger import SLICE

    sink = MemorySink()
    logger, _registry = _logger(sink, buffer_records=10_000, flush_records=10_000, flush_interval_s=3600)
    count = 2 * SLICE + 7
    for i in range(count):  # a later slice has an output the first does not: columns line up anyway
        outputs = {"predict": np.array([i])} if i < SLICE else {"predict_proba": np.array([[0.5, 0.5]])}
        logger.offer(capture(f"r{i}", features=columns({"x": [float(i)]}), outputs=outputs))
    assert logger.close(10)
    (table,) = sink.tables
    assert table.num_rows == count
    assert table.column("f_x").to_pylist() == [float(i) for i in range(count)]
    assert table.column("prediction").null_count == count - SLICE
    assert table.column("proba").null_count == SLICE


def test_close_writes_everything_buffered_even_before_the_interval() -> None:
    sink = MemorySink()
    logger, _registry = _logger(sink, flush_records=100, flush_interval_s=3600)
    logger.start()
    for i in range(40):
        logger.offer(capture(f"r{i}"))
    time.sleep(0.1)
    assert sink.rows() == 0  # neither 100 records nor an hour: nothing written yet
    assert logger.close(10)
    assert sink.rows() == 40


def test_a_sink_stuck_past_the_grace_period_counts_what_is_left() -> None:
    sink = MemorySink()
    sink.gate.clear()
    logger, registry = _logger(sink, flush_records=1)
    logger.start()
    logger.offer(capture("stuck"))
    sink.entered.wait(5)
    logger.offer(capture("left"))
    assert not logger.close(0.2)
    assert _metric(registry, "shipyard_prediction_log_dropped_total", model="", version="", reason="shutdown") == 2
    sink.gate.set()


@pytest.mark.parametrize("rate", [0.0, 1.0])
def test_sampled_is_the_logger_s_sampler(rate: float) -> None:
    logger, _ = _logger(MemorySink(), sample_rate=rate)
    assert logger.sampled("any-id") is (rate == 1.0)
