"""Background metric logging: bounded memory, batched flushes, errors surfaced.

``log_metric`` appends to an in-memory buffer and returns at once; a background thread
sends the buffer in batches (``batch_size`` points, or whatever arrived within
``interval_s``). When ``max_buffered`` points are waiting, callers block until the
sender catches up, so memory stays bounded however fast a training loop logs.

A failed send is never swallowed: the error is raised by the next ``add``/``flush``
call. Points of a batch that failed because the server was unreachable stay queued and
are retried; points the server refused (a 4xx) are dropped with that error.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from shipyard.errors import ShipyardError, Unavailable

# (run_id, key, value, step, timestamp_ms)
Point = tuple[str, str, float, int, int]
Sender = Callable[[str, Sequence[tuple[str, float, int, int]]], None]


class MetricBuffer:
    def __init__(
        self,
        send: Sender,
        *,
        batch_size: int = 10_000,
        interval_s: float = 0.5,
        max_buffered: int = 200_000,
    ) -> None:
        self._send = send
        self.batch_size = batch_size
        self.interval_s = interval_s
        self.max_buffered = max_buffered
        self._points: deque[Point] = deque()
        self._cond = threading.Condition()
        self._error: ShipyardError | None = None
        self._in_flight = 0
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="shipyard-metrics", daemon=True)
        self._thread.start()

    # -- producer side ---------------------------------------------------------------
    def add(self, run_id: str, key: str, value: float, step: int, timestamp_ms: int | None = None) -> None:
        ts = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
        with self._cond:
            self._raise_pending()
            while len(self._points) >= self.max_buffered and self._error is None:
                self._cond.notify_all()
                self._cond.wait()
            self._raise_pending()
            self._points.append((run_id, key, float(value), int(step), ts))
            if len(self._points) >= self.batch_size:
                self._cond.notify_all()

    def flush(self, timeout_s: float | None = None) -> None:
        """Send everything buffered so far; raise the first send error, if any."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._cond:
            self._cond.notify_all()
            while (self._points or self._in_flight) and self._error is None:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise Unavailable(
                        f"metrics not flushed within {timeout_s}s; {len(self._points)} points still queued"
                    )
                self._cond.wait(timeout=remaining)
            self._raise_pending()

    def close(self, timeout_s: float | None = None) -> None:
        try:
            self.flush(timeout_s)
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()
            self._thread.join(timeout=5)

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._points) + self._in_flight

    def _raise_pending(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    # -- sender side -----------------------------------------------------------------
    def _take(self) -> list[Point]:
        batch: list[Point] = []
        run = self._points[0][0]
        while self._points and len(batch) < self.batch_size and self._points[0][0] == run:
            batch.append(self._points.popleft())
        return batch

    def _loop(self) -> None:
        while True:
            with self._cond:
                if not self._points:
                    if self._closed:
                        return
                    self._cond.wait(timeout=self.interval_s)
                if len(self._points) < self.batch_size and not self._closed:
                    self._cond.wait(timeout=self.interval_s)
                if not self._points:
                    continue
                batch = self._take()
                self._in_flight = len(batch)
                self._cond.notify_all()
            error: ShipyardError | None = None
            try:
                self._send(batch[0][0], [(k, v, s, t) for _, k, v, s, t in batch])
            except ShipyardError as exc:
                error = exc
            except Exception as exc:  # a bug in the sender must still reach the caller
                error = ShipyardError(f"metric flush failed: {type(exc).__name__}: {exc}")
            with self._cond:
                self._in_flight = 0
                if error is not None:
                    if isinstance(error, Unavailable):
                        self._points.extendleft(reversed(batch))  # keep for the retry
                    self._error = error
                self._cond.notify_all()
            if isinstance(error, Unavailable):
                time.sleep(self.interval_s)
