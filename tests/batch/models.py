"""Custom models for the batch tests. They live in an importable module (not a test file)
so that their pickles load in worker processes and in `shipyard predict` subprocesses."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


class RowSum:
    """Predicts the sum of each row's features: cheap, and easy to check against."""

    def predict(self, data: pd.DataFrame) -> np.ndarray:
        return np.asarray(data, dtype=np.float64).sum(axis=1)


class Stats:
    """Two outputs per row, as a DataFrame."""

    def predict(self, data: pd.DataFrame) -> pd.DataFrame:
        values = np.asarray(data, dtype=np.float64)
        return pd.DataFrame({"low": values.min(axis=1), "high": values.max(axis=1)})


class NonNegative:
    """Refuses a chunk that holds a negative or non-numeric ``x``: the "bad rows" model."""

    def predict(self, data: pd.DataFrame) -> np.ndarray:
        values = pd.to_numeric(data["x"])  # ValueError on text
        if (values < 0).any():
            raise ValueError(f"negative x: {values[values < 0].iloc[0]}")
        return np.asarray(values * 2.0)


class CrashOn:
    """Ends its process, as the kernel's OOM killer would, on a chunk holding ``x == crash_at``."""

    def __init__(self, crash_at: int) -> None:
        self.crash_at = crash_at

    def predict(self, data: pd.DataFrame) -> np.ndarray:
        if (data["x"] == self.crash_at).any():
            os._exit(9)
        return np.asarray(data["x"], dtype=np.float64)


class Slow:
    """Sleeps per call and appends the chunk's first ``x`` (its row number) to a marker
    file, so a test can see which chunks were predicted, and how many times."""

    def __init__(self, marker: str, delay_s: float) -> None:
        self.marker = marker
        self.delay_s = delay_s

    def predict(self, data: pd.DataFrame) -> np.ndarray:
        time.sleep(self.delay_s)
        values = np.asarray(data["x"], dtype=np.int64)
        with Path(self.marker).open("a") as fh:
            fh.write(f"{int(values[0])} {os.getpid()}\n")
        return values * 10


def frame(rows: int, start: int = 0) -> pd.DataFrame:
    """``id`` (a text key), ``x`` (the row number) and two feature columns."""
    x = np.arange(start, start + rows, dtype=np.int64)
    return pd.DataFrame({"id": [f"r{i}" for i in x], "x": x, "a": x * 0.5, "b": np.sqrt(x)})


def expected_row_sum(data: pd.DataFrame) -> Any:
    return RowSum().predict(data[["x", "a", "b"]])
