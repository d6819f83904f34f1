"""Custom (pyfunc) models for the serving tests: predictable, slow or failing on purpose.

They are pickled by reference, so a server in a subprocess started from the repository
root can load them too."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np


class Doubler:
    """Vectorised and row-independent: each row's prediction is twice its first value.
    Counts calls and remembers batch sizes, to see batching from the inside."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.calls = 0
        self.rows: list[int] = []
        self.threads: list[str] = []  # the thread each call ran on
        self._lock = threading.Lock()

    def predict(self, data: Any) -> Any:
        array = np.asarray(data, dtype=np.float64)
        with self._lock:
            self.calls += 1
            self.rows.append(len(array))
            self.threads.append(threading.current_thread().name)
        if self.delay_s:
            time.sleep(self.delay_s)
        return array[:, 0] * 2

    def predict_proba(self, data: Any) -> Any:
        first = np.clip(np.asarray(data, dtype=np.float64)[:, 0] / 10, 0, 1)
        return np.column_stack([1 - first, first])

    def __getstate__(self) -> dict[str, Any]:
        return {"delay_s": self.delay_s}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["delay_s"])  # type: ignore[misc]


class Ballast(Doubler):
    """A Doubler carrying ``mib`` MiB of bytes (pickled with it), to take room under a memory budget."""

    def __init__(self, delay_s: float = 0.0, mib: int = 1) -> None:
        super().__init__(delay_s)
        self.payload = bytes(mib * 1024 * 1024)

    def __getstate__(self) -> dict[str, Any]:
        return {"delay_s": self.delay_s, "payload": self.payload}

    def __setstate__(self, state: dict[str, Any]) -> None:
        Doubler.__init__(self, state["delay_s"])
        self.payload = state["payload"]


class Exploding:
    """A model with a bug: raises something that is not about its input."""

    def predict(self, data: Any) -> Any:
        raise RuntimeError("boom: the model is broken")


class Picky:
    """Rejects rows whose first value is negative (a ValueError: bad input, not a bug)."""

    def predict(self, data: Any) -> Any:
        array = np.asarray(data, dtype=np.float64)
        if (array[:, 0] < 0).any():
            raise ValueError("negative values are not allowed")
        return array[:, 0]


class Echo:
    """Returns its input unchanged (served without a signature: any datatype goes)."""

    def predict(self, data: Any) -> Any:
        return np.asarray(data)


class Gated(Doubler):
    """A Doubler whose calls wait until the test opens the gate (``release``); ``entered`` is
    set once a call is waiting, so a test knows the model is busy without timing anything."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def predict(self, data: Any) -> Any:
        self.entered.set()
        self.release.wait(60)  # a guard against a hung test, not a timing
        return super().predict(data)

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()  # type: ignore[misc]


class Tripler(Doubler):
    """Like a Doubler, but each row's prediction is three times its first value (a version
    whose answers differ, to see which version answered)."""

    def predict(self, data: Any) -> Any:
        return super().predict(data) * 1.5
