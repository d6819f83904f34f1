"""Adaptive micro-batching with a bounded queue and deadlines, one :class:`Batcher` per model.

- A request that finds the model idle is dispatched at once, from the request's own
  coroutine straight to the model's thread: batching adds neither a waiting window nor a
  hop through the dispatch task at low load, so it costs nothing at concurrency 1.
- Requests that arrive while the model is computing queue up; when it is free, the
  oldest request and every queued request *compatible* with it (same batch key: same
  method, params, columns or tensor tail shape and dtypes) up to ``max_batch_size`` run
  as one vectorised call, whose output is split back per request.
- Before such a batch starts it may wait a little, never longer than
  ``max_batch_wait_ms`` after its oldest request arrived: for requests that have already
  arrived but are still being read and parsed, and until as many requests wait as the
  last batch held (its callers are coming back; see :meth:`Batcher._worth_waiting`). A
  lone caller's batches hold one request, so it never waits.
- At most ``max_queue`` requests wait; the next one is refused at once
  (:class:`Overloaded`, 429 with ``Retry-After``), so memory stays bounded.
- A request whose deadline has passed is dropped before compute
  (:class:`DeadlineExceeded`, 504).
- Model calls run on the model's own daemon threads (``max_concurrency``, default one
  call at a time); a call stuck past shutdown cannot keep the process alive.
- Except a fast model's: with one call at a time, a batch whose call is expected to take
  less than ``inline_compute_ms`` (from the model's measured call time, scaled by the
  batch's rows) runs on the event loop itself. Handing a call to a thread and its result
  back costs two thread switches, a wake-up of the loop through its self-pipe and, under
  load, a tug of war over the GIL that stretched a 0.24 ms GBM call to 1.4 ms; inline, a
  call blocks the loop exactly as long as it computes, and the loop then reads every
  request that arrived meanwhile, which batches them. An idle model's request still joins
  any request parsed in the same loop turn (it is queued and the dispatch task runs after
  them). Until a model has been measured its calls go to its thread; a call that turns out
  slower moves the estimate, and the next batches go back to the thread. The default
  threshold (2.5 ms) has room for what a call measures *on its thread* under load: the
  wall time there includes waiting for the GIL the busy loop holds, so the GBM model's
  0.4 ms call measured 0.9-2 ms, and with a 1 ms threshold it stayed on its thread for
  good at about half the throughput. (A thread's CPU clock would not see that wait, but
  neither would it see a GPU or remote call's, which must never block the loop.)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Any

from shipyard.logging import get_logger
from shipyard.serving.errors import DeadlineExceeded, ModelFailed, NotReady, Overloaded
from shipyard.serving.inputs import Prepared
from shipyard.serving.metrics import ServingMetrics
from shipyard.serving.settings import ServingSettings

log = get_logger("shipyard.serving")


class Job:
    """One request waiting for (or in) a model call. (Not a dataclass: see
    :class:`~shipyard.serving.http.Response`.)"""

    __slots__ = ("deadline", "enqueued", "future", "key", "method", "params", "prepared", "queued_behind_busy")

    def __init__(
        self,
        prepared: Prepared,
        method: str,
        params: dict[str, Any] | None,
        key: Hashable | None,
        deadline: float,
        future: asyncio.Future[Any],
    ) -> None:
        self.prepared = prepared
        self.method = method
        self.params = params
        self.key = key  # None: runs alone
        self.deadline = deadline  # time.monotonic()
        self.future = future
        self.enqueued = time.monotonic()
        self.queued_behind_busy = False


# Runs a batch of compatible jobs (on a compute thread); one result per job, in order,
# where an exception instance is that job's failure.
Compute = Callable[[list[Job]], list[Any]]


# Called on the event loop with what a compute thread's function returned or raised.
Done = Callable[[Any, BaseException | None], None]


def _ewma(average: float, sample: float) -> float:
    """A moving average that starts at its first sample (0 means no sample yet)."""
    return sample if average == 0 else 0.8 * average + 0.2 * sample


def _resolve(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class ComputeThread:
    """A daemon thread running one function at a time for the event loop."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Done, asyncio.AbstractEventLoop] | None]
        self._jobs = queue.SimpleQueue()
        # Not ``_thread``: compiled, the field would be named ``__thread``, a C keyword (hatch_build.py).
        self._runner = threading.Thread(target=self._loop, name=name, daemon=True)
        self._runner.start()

    async def run(self, fn: Callable[[], Any]) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self.submit(fn, functools.partial(_resolve, future), loop)
        return await future

    def submit(self, fn: Callable[[], Any], done: Done, loop: asyncio.AbstractEventLoop) -> None:
        """Run ``fn`` on the thread, then ``done(result, error)`` on ``loop``."""
        self._jobs.put((fn, done, loop))

    def stop(self) -> None:
        self._jobs.put(None)

    def _loop(self) -> None:
        while (item := self._jobs.get()) is not None:
            fn, done, loop = item
            result, error = None, None
            try:
                result = fn()
            except BaseException as exc:  # handed to the event loop
                error = exc
            try:
                loop.call_soon_threadsafe(done, result, error)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                return


class Batcher:
    def __init__(
        self,
        compute: Compute,
        *,
        model: str,
        version: str,
        settings: ServingSettings,
        metrics: ServingMetrics,
    ) -> None:
        self._compute = compute
        self._label = f"{model}/{version}"
        self._max_batch = settings.max_batch_size
        self._max_wait = settings.max_batch_wait_ms / 1000
        self._max_queue = settings.max_queue
        self._concurrency = settings.max_concurrency
        self._queue: deque[Job] = deque()
        self._wakeup = asyncio.Event()
        self._arriving = 0
        self._ewma_s = 0.0
        # Inline dispatch: the model's call time and rows per call (EWMAs, measured where it ran).
        self._inline_s = settings.inline_compute_ms / 1000 if settings.max_concurrency == 1 else 0.0
        self._call_s = 0.0
        self._call_rows = 1.0
        self._last_jobs = 1  # requests in the last batch
        self._lingering: Job | None = None  # the oldest request, while its batch waits for more
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle: list[ComputeThread] = []  # compute threads with nothing to do
        self._threads: list[ComputeThread] = []
        self._running: set[tuple[Job, ...]] = set()  # batches on a compute thread
        self.peak_queue = 0
        self._queued = metrics.queued.labels(model, version)
        self._queue_duration = metrics.histogram_tally(metrics.queue_duration.labels(model, version))
        self._compute_duration = metrics.histogram_tally(metrics.compute_duration.labels(model, version))
        self._batch_size = metrics.histogram_tally(metrics.batch_size.labels(model, version))

    # -- lifecycle -------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._task is not None

    @property
    def _busy(self) -> int:
        return len(self._running)

    def start(self) -> None:
        """Start the compute threads and the dispatch task (on the running loop; again after :meth:`stop`)."""
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        for i in range(self._concurrency):
            thread = ComputeThread(f"shipyard-model-{self._label}-{i}")
            self._threads.append(thread)
            self._idle.append(thread)
        self._task = self._loop.create_task(self._dispatcher())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        stopping = NotReady(f"model '{self._label}' is shutting down")
        for batch in self._running:  # their threads may still finish; nobody waits for them any more
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(stopping)
        self._running.clear()
        while self._queue:
            job = self._queue.popleft()
            if not job.future.done():
                job.future.set_exception(stopping)
        self._queued.set(0)
        for thread in self._threads:
            thread.stop()
        self._threads.clear()
        self._idle.clear()

    # -- admission ---------------------------------------------------------------------
    @property
    def depth(self) -> int:
        return len(self._queue)

    def retry_after_s(self) -> int:
        """A guess at when the queue will have room: its length in batches times a batch's time."""
        batches = math.ceil(len(self._queue) / self._max_batch) / self._concurrency
        return max(1, math.ceil(batches * self._ewma_s))

    def check_capacity(self) -> None:
        if len(self._queue) >= self._max_queue:
            raise Overloaded(
                f"model '{self._label}' has {len(self._queue)} requests queued (max_queue {self._max_queue}); "
                "retry later",
                self.retry_after_s(),
                {"max_queue": self._max_queue},
            )

    def arriving(self, delta: int) -> None:
        """Count requests being read and parsed for this model; a busy model's batch waits for them."""
        self._arriving += delta
        if self._arriving == 0:
            self._wake()  # a lingering batch need not wait for a request that failed to parse

    def submit(self, job: Job) -> None:
        self.check_capacity()
        if self._idle and not self._queue and self._task is not None and not self._fast(job.prepared.rows):
            self._dispatch([job])  # the model is idle: run at once, no hop through the dispatch task
            return
        job.queued_behind_busy = not self._idle
        self._queue.append(job)
        depth = len(self._queue)
        self.peak_queue = max(self.peak_queue, depth)
        self._wake()

    def discard(self, job: Job) -> None:
        """Forget a job whose caller stopped waiting."""
        with contextlib.suppress(ValueError):
            self._queue.remove(job)

    def sample_gauges(self) -> None:
        self._queued.set(len(self._queue))

    # -- dispatch ----------------------------------------------------------------------
    async def _dispatcher(self) -> None:
        """Start a batch whenever a compute thread is free and requests wait. Should this
        loop itself fail (a bug: a model's errors are answered per request), the requests
        it holds and every queued one get a 500 at once, not a 504 at their deadlines, and
        it goes on."""
        while True:
            batch: list[Job] = []
            try:
                if not self._queue or not self._idle:
                    self._wakeup.clear()
                    await self._wakeup.wait()
                else:
                    await self._linger()
                    batch = self._take()
                    if batch and self._idle:
                        self._dispatch(batch)
                    elif batch:  # cannot happen with one dispatcher, but never lose a request
                        self._queue.extendleft(reversed(batch))
            except Exception as exc:
                self._fail_waiting(batch, exc)

    def _fail_waiting(self, batch: list[Job], error: Exception) -> None:
        log.error("batch dispatch failed", model=self._label, error_type=type(error).__name__, exc_info=error)
        failed = ModelFailed(
            f"model '{self._label}' could not run the requests waiting for it "
            f"(internal error: {type(error).__name__}); the server log has the details"
        )
        waiting = [*batch, *self._queue]
        self._queue.clear()
        for job in waiting:
            if not job.future.done():
                job.future.set_exception(failed)

    async def _linger(self) -> None:
        """Before a batch starts, wait (at most ``max_batch_wait_ms`` after its oldest request
        arrived) while :meth:`_worth_waiting`. Woken only when that may have changed: by the
        request that fills the batch, the last request being read, or the one timer."""
        head = self._queue[0]
        if self._max_wait <= 0 or self._max_batch == 1 or head.key is None:
            return
        remaining = head.enqueued + self._max_wait - time.monotonic()
        if remaining <= 0 or not self._worth_waiting(head):
            return
        assert self._loop is not None
        timer = self._loop.call_later(remaining, self._stop_lingering)
        self._lingering = head
        try:
            while self._lingers(head):
                self._wakeup.clear()
                await self._wakeup.wait()
        finally:
            self._lingering = None
            timer.cancel()

    def _lingers(self, head: Job) -> bool:
        """Whether ``head``'s batch still waits: its timer has not fired and more requests are
        worth waiting for. (A method, not an inline test: mypy would keep ``_lingering``
        narrowed to a Job across the ``await``, and compiled code trusts that narrowing.)"""
        return self._lingering is head and self._worth_waiting(head)

    def _stop_lingering(self) -> None:
        self._lingering = None
        self._wakeup.set()

    def _wake(self) -> None:
        """Wake the dispatch task, unless it lingers for a batch and would linger on."""
        head = self._lingering
        if head is None or not self._worth_waiting(head):
            self._wakeup.set()

    def _worth_waiting(self, head: Job) -> bool:
        """Whether more requests are about to join: some are being read and parsed while the
        model is busy, or fewer wait than the last batch held. The callers a batch answered
        send their next request while the answers are still being written, so without that
        wait a batch of 32 splits into a large one and a small one of the stragglers, each
        paying a whole model call. A lone caller's batches hold one request: it never waits."""
        if len(self._queue) >= self._max_batch:
            return False
        if head.queued_behind_busy and self._arriving > 0:
            return True
        return len(self._queue) < self._last_jobs

    def _take(self) -> list[Job]:
        now = time.monotonic()
        batch: list[Job] = []
        skipped: list[Job] = []
        key: Hashable | None = None
        job: Job | None = None
        try:
            while self._queue:
                job = self._queue.popleft()
                if job.future.done():  # its caller gave up
                    continue
                if job.deadline <= now:
                    job.future.set_exception(
                        DeadlineExceeded(f"the request's deadline passed after {now - job.enqueued:.3f}s in the queue")
                    )
                    continue
                if not batch:
                    batch.append(job)
                    key = job.key
                    if key is None:
                        break
                elif job.key == key:
                    batch.append(job)
                else:
                    skipped.append(job)
                if len(batch) >= self._max_batch:
                    break
        except Exception:
            held = [*batch, *skipped]
            if job is not None and job not in held:  # the one being looked at
                held.append(job)
            self._queue.extendleft(reversed(held))  # none is lost: the caller answers them
            raise
        self._queue.extendleft(reversed(skipped))
        return batch

    def _fast(self, rows: int) -> bool:
        """Whether a call on ``rows`` rows is expected to finish within ``inline_compute_ms``."""
        if self._inline_s <= 0 or self._call_s <= 0:
            return False
        return self._call_s * max(1.0, rows / self._call_rows) < self._inline_s

    def _timed(self, batch: list[Job], rows: int) -> tuple[list[Any], float, int]:
        """The model call, with how long it took and on how many rows."""
        started = time.perf_counter()
        results = self._compute(batch)
        return results, time.perf_counter() - started, rows

    def _dispatch(self, batch: list[Job]) -> None:
        """Run ``batch`` on the loop if it is fast, else hand it to an idle compute thread;
        :meth:`_finished` runs on the loop after."""
        assert self._loop is not None
        thread = self._idle.pop()
        started = time.monotonic()
        for job in batch:
            self._queue_duration.observe(started - job.enqueued)
        running = tuple(batch)
        self._running.add(running)
        rows = sum(job.prepared.rows for job in batch)
        if self._fast(rows):
            result: Any = None
            error: BaseException | None = None
            try:
                result = self._timed(batch, rows)
            except Exception as exc:  # as a compute thread reports it
                error = exc
            self._finished(running, thread, started, result, error)
            return
        thread.submit(
            functools.partial(self._timed, batch, rows),
            functools.partial(self._finished, running, thread, started),
            self._loop,
        )

    def _finished(
        self, batch: tuple[Job, ...], thread: ComputeThread, started: float, timed: Any, error: BaseException | None
    ) -> None:
        if batch not in self._running:  # stopped meanwhile: its callers were answered
            return
        self._running.discard(batch)
        self._idle.append(thread)
        results: list[Any]
        if error is not None:  # the compute function itself failed; it reports model errors per job
            log.error("batch failed", model=self._label, error=str(error), exc_info=error)
            results = [error] * len(batch)
        else:
            results, call_s, rows = timed
            self._call_rows = max(1.0, rows if self._call_s == 0 else _ewma(self._call_rows, rows))
            self._call_s = _ewma(self._call_s, call_s)
        elapsed = time.monotonic() - started
        self._ewma_s = _ewma(self._ewma_s, elapsed)
        self._compute_duration.observe(elapsed)
        self._batch_size.observe(len(batch))
        self._last_jobs = len(batch)
        for job, result in zip(batch, results, strict=True):
            if job.future.done():
                continue
            if isinstance(result, BaseException):
                job.future.set_exception(result)
            else:
                job.future.set_result(result)
        if self._queue:
            self._wakeup.set()


__all__ = ["Batcher", "ComputeThread", "Job"]
