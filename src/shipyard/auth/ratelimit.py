"""A sliding-window limit on failed authentications per source address.

In memory, per process: with ``--workers N`` each worker counts on its own (so up to N
times the limit in total), and a restart forgets. That is enough to make guessing tokens
over the network pointless (a token secret has 256 bits); a shared limit belongs in the
reverse proxy in front of several replicas.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from shipyard.auth.errors import TooManyFailedAttempts

# Sources tracked at once; beyond it the least recently failing source is forgotten.
MAX_SOURCES = 100_000


class FailedAuthLimiter:
    def __init__(self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, source: str, now: float) -> deque[float] | None:
        stamps = self._failures.get(source)
        if stamps is None:
            return None
        while stamps and stamps[0] <= now - self.window_s:
            stamps.popleft()
        if not stamps:
            del self._failures[source]
            return None
        return stamps

    def check(self, source: str) -> None:
        """Raise :class:`TooManyFailedAttempts` while ``source`` is over the limit."""
        if self.limit <= 0:
            return
        with self._lock:
            now = self.clock()
            stamps = self._recent(source, now)
            if stamps is None or len(stamps) < self.limit:
                return
            retry_after = max(1, math.ceil(stamps[0] + self.window_s - now))
        raise TooManyFailedAttempts(retry_after)

    def failed(self, source: str) -> None:
        if self.limit <= 0:
            return
        with self._lock:
            now = self.clock()
            stamps = self._recent(source, now)
            if stamps is None:
                stamps = self._failures[source] = deque(maxlen=self.limit)
            stamps.append(now)
            self._failures.move_to_end(source)
            while len(self._failures) > MAX_SOURCES:
                self._failures.popitem(last=False)
