"""Request deadlines of one model with one timer, not one per request.

Every inference request has a deadline (``timeout_s``, lowered by the caller). A request
still waiting when it passes gets 504 at once, whether it is queued or its batch is
computing. Arming and cancelling a timer per request would cost about as much as parsing
its HTTP, so :class:`Deadlines` keeps the waiting requests in a dict and a single timer
at the earliest deadline among them: when it fires, every request past its deadline is
expired and the timer is armed again at the next one. Requests leave the dict when they
are answered, so the timer mostly fires for a request long gone, finds nothing to do and
moves on (with the default 60 s deadline, about once a minute).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

from shipyard.serving.batching import Job

# The loop's timers have millisecond resolution and may fire that much early: a request
# this close to its deadline when the timer fires is expired then, not re-armed for.
RESOLUTION_S = 0.002


class Deadlines:
    """The deadlines of the requests waiting for one model (used on its event loop only)."""

    def __init__(self, expire: Callable[[Job], None]) -> None:
        self._expire = expire
        self._jobs: dict[Job, None] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._at = math.inf  # when the timer fires (time.monotonic()); inf: not armed

    def __len__(self) -> int:
        return len(self._jobs)

    def watch(self, job: Job) -> None:
        """Expire ``job`` at its deadline unless :meth:`forget` is called first."""
        if math.isinf(job.deadline):
            return
        self._jobs[job] = None
        if job.deadline < self._at:
            self._arm(job.deadline)

    def forget(self, job: Job) -> None:
        self._jobs.pop(job, None)

    def _arm(self, at: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._at = at
        self._timer = asyncio.get_running_loop().call_later(max(0.0, at - time.monotonic()), self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._at = math.inf
        now = time.monotonic() + RESOLUTION_S
        expired = [job for job, _ in self._jobs.items() if job.deadline <= now]
        for job in expired:
            del self._jobs[job]
            self._expire(job)
        if self._jobs:
            self._arm(min(job.deadline for job in self._jobs))


__all__ = ["RESOLUTION_S", "Deadlines"]
