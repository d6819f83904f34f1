"""The :class:`PredictionLogger`: a bounded buffer on the hot path, a writer thread behind it.

The hot path (the event loop) calls :meth:`PredictionLogger.offer` with a
:class:`~shipyard.serving.predlog.records.Capture` of references, which it keeps as a flat
tuple (:meth:`~shipyard.serving.predlog.records.Capture.packed`: the garbage collector
stops tracking it at once): an append to a deque and two integer updates, never a lock
held against the writer, never I/O, never a wait. When the buffer already holds
``buffer_records`` records (rows) the capture is dropped and counted
(``reason="buffer_full"``), so a slow or failing sink costs records, not latency, and
memory stays bounded: at most ``buffer_records`` rows wait, plus the batch being written.

The writer thread wakes when ``flush_records`` records wait or ``flush_interval_s`` has
passed, takes everything waiting, converts it to Arrow per partition
(:func:`~shipyard.serving.predlog.columns.to_table`, :data:`SLICE` captures at a time,
releasing the GIL in between so the event loop is never held up for long) and hands each
table to the sink, then lets the sink publish the files that are due. A write that fails drops that batch
(``reason="write_error"``), is logged (at most once per :data:`ERROR_LOG_EVERY_S`, with
how many were suppressed) and backs the writer off, doubling up to :data:`MAX_BACKOFF_S`;
records offered meanwhile wait in the buffer or are dropped when it is full.

:meth:`PredictionLogger.close` drains: what is buffered is written and every file
published within the timeout (the server's grace period); records still unwritten after
it are counted as ``reason="shutdown"``.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]

from shipyard.logging import get_logger
from shipyard.serving.metrics import PredictionLogMetrics
from shipyard.serving.predlog.columns import to_table, warm_up
from shipyard.serving.predlog.records import (
    Capture,
    Packed,
    Partition,
    Sampler,
    packed_records,
    partition_key,
    utc_date,
)
from shipyard.serving.predlog.sinks import RollResult, Sink
from shipyard.serving.settings import PredictionLogSettings

log = get_logger("shipyard.serving")
ROLL_CHECK_S = 1.0  # how often an idle writer looks for files due to be published
ERROR_LOG_EVERY_S = 60.0
BASE_BACKOFF_S = 0.5
MAX_BACKOFF_S = 30.0
DRAIN_PASSES = 3
SLICE = 500  # captures converted per hold of the GIL
_DAY_S = 86_400


class _RateLimited:
    """Logs the first error at once, then at most one line per ``every_s`` with a count."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self._last = -float("inf")
        self._suppressed = 0

    def error(self, message: str, **fields: Any) -> None:
        now = time.monotonic()
        if now - self._last < self.every_s:
            self._suppressed += 1
            return
        log.error(message, suppressed=self._suppressed, **fields)
        self._last = now
        self._suppressed = 0


class PredictionLogger:
    """Offer captures from one thread (the event loop); a daemon thread writes them."""

    def __init__(self, settings: PredictionLogSettings, sink: Sink, metrics: PredictionLogMetrics) -> None:
        self.settings = settings
        self.sink = sink
        self.metrics = metrics
        self.sampled = Sampler(settings.sample_rate)
        self._capacity = settings.buffer_records
        self._threshold = min(settings.flush_records, settings.buffer_records)
        self._buffer: deque[Packed] = deque()
        # Records in and out of the buffer: each counter is written by one thread only.
        self._offered = 0
        self._taken = 0
        self._writing = 0  # records taken and not yet handed to the sink
        self._kicked = False
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._failures = 0
        self._errors = _RateLimited(ERROR_LOG_EVERY_S)
        self._dates: dict[int, str] = {}
        metrics.buffered.set_function(lambda: self.buffered)

    @property
    def buffered(self) -> int:
        """Records waiting for the writer."""
        return self._offered - self._taken

    # -- the hot path ----------------------------------------------------------------
    def offer(self, capture: Capture) -> bool:
        """Buffer ``capture`` for the writer, or drop (and count) it if the buffer is full.

        Never blocks. Call :attr:`sampled` first: an unsampled request should cost no
        capture at all."""
        records = capture.records
        if self._offered - self._taken + records > self._capacity:
            self.metrics.dropped.labels(capture.model, capture.version, "buffer_full").inc(records)
            return False
        self._buffer.append(capture.packed())
        self._offered += records
        if not self._kicked and self._offered - self._taken >= self._threshold:
            self._kicked = True
            self._wake.set()
        return True

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="shipyard-prediction-log", daemon=True)
            self._thread.start()

    def close(self, timeout_s: float) -> bool:
        """Write what is buffered and publish every file, waiting at most ``timeout_s``;
        whether it all got out. Records left over are counted as dropped (``shutdown``)."""
        self._stopping.set()
        self._wake.set()
        thread = self._thread
        if thread is None:  # never started: write in this thread
            self._drain_and_close()
            return True
        thread.join(timeout_s)
        if not thread.is_alive():
            return True
        left = self.buffered + self._writing
        if left:
            self.metrics.dropped.labels("", "", "shutdown").inc(left)
        log.warning("prediction log: not everything was written within the grace period", records_left=left)
        return False

    # -- the writer thread -----------------------------------------------------------
    def _run(self) -> None:
        try:
            warm_up()  # the writer starts with the server, while models load
        except Exception as exc:  # not worth failing over: the first flush pays instead
            log.warning("prediction log warm-up failed", error=f"{type(exc).__name__}: {exc}")
        interval = self.settings.flush_interval_s
        last_flush = time.monotonic()
        while not self._stopping.is_set():
            wait = min(ROLL_CHECK_S, max(0.0, last_flush + interval - time.monotonic()))
            self._wake.wait(wait)
            self._wake.clear()
            self._kicked = False
            now = time.monotonic()
            if self._stopping.is_set():
                break
            if self.buffered and (self.buffered >= self._threshold or now - last_flush >= interval):
                self._flush()
                last_flush = time.monotonic()
            elif not self.buffered:
                last_flush = now  # the interval counts from the first record waiting
            self._count(self._roll(everything=False))
            if self._failures:
                self._stopping.wait(min(MAX_BACKOFF_S, BASE_BACKOFF_S * 2 ** (self._failures - 1)))
        self._drain_and_close()

    def _drain_and_close(self) -> None:
        for _ in range(DRAIN_PASSES):  # bounded, should offers go on meanwhile
            if not self.buffered:
                break
            self._flush()
        self._count(self._roll(everything=True))

    def _take(self) -> list[Packed]:
        """Everything waiting now (and no more: the loop is bounded while offers go on)."""
        batch = []
        for _ in range(len(self._buffer)):
            batch.append(self._buffer.popleft())
        records = sum(packed_records(p) for p in batch)
        self._taken += records
        self._writing = records
        return batch

    def _partition(self, model: str, version: str, day: int) -> Partition:
        date = self._dates.get(day)
        if date is None:
            date = self._dates[day] = utc_date(day * _DAY_S)
        endpoint = self.settings.endpoint or model
        return Partition(self.settings.project, endpoint, model, version, date)

    @staticmethod
    def _table(batch: list[Packed]) -> Any:
        """``to_table`` a slice at a time, letting go of the GIL in between: a long stretch
        of conversion would hold up the event loop (every one of its system calls waits
        for the GIL), so requests see short pauses rather than one long one. Captures are
        unpacked a slice at a time too, so few of them live long enough to age in the GC."""
        tables = []
        for start in range(0, len(batch), SLICE):
            if start:
                time.sleep(0)
            tables.append(to_table([Capture.unpacked(p) for p in batch[start : start + SLICE]]))
        return tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="permissive")

    def _flush(self) -> None:
        batch = self._take()
        if not batch:
            return
        started = time.perf_counter()
        groups: dict[tuple[str, str, int], list[Packed]] = {}
        for packed in batch:
            groups.setdefault(partition_key(packed, _DAY_S), []).append(packed)
        failed = False
        for key, captures in groups.items():
            partition = self._partition(*key)
            try:
                self.sink.write(partition, self._table(captures))
            except Exception as exc:
                failed = True
                records = sum(packed_records(p) for p in captures)
                self.metrics.dropped.labels(partition.model, partition.version, "write_error").inc(records)
                self._errors.error(
                    "prediction log write failed; records dropped",
                    partition=partition.path,
                    records=records,
                    error=f"{type(exc).__name__}: {exc}",
                )
        self._failures = self._failures + 1 if failed else 0
        self._writing = 0
        self.metrics.write_duration.observe(time.perf_counter() - started)

    def _roll(self, *, everything: bool) -> RollResult:
        try:
            return self.sink.roll(time.monotonic(), everything=everything)
        except Exception as exc:
            self._errors.error("prediction log roll failed", error=f"{type(exc).__name__}: {exc}")
            return RollResult()

    def _count(self, result: RollResult) -> None:
        for partition, rows in result.published:
            self.metrics.records.labels(partition.model, partition.version).inc(rows)
        for partition, rows, error in result.lost:
            self.metrics.dropped.labels(partition.model, partition.version, "write_error").inc(rows)
            self._errors.error("prediction log file lost", partition=partition.path, records=rows, error=error)


__all__ = ["PredictionLogger"]
