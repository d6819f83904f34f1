"""Synthetic prediction logs written by the real writer (to_table + ParquetSink)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shipyard.serving.inputs import prepare
from shipyard.serving.predlog import Capture, ParquetSink, Partition
from shipyard.serving.predlog.columns import to_table
from shipyard.serving.predlog.records import utc_date


def write_log(
    root: Path,
    frame: pd.DataFrame,
    *,
    ts: float,
    project: str = "default",
    endpoint: str = "churn",
    model: str = "churn",
    version: str = "1",
    prediction: str = "prediction",
    prefix: str = "r",
    request_rows: int = 1,
    files: int = 1,
    spacing_s: float = 0.0,
    user_keys: list[str] | None = None,
) -> list[str]:
    """Log every row of ``frame`` (features: every column but ``prediction``) as requests
    of ``request_rows`` rows, into ``files`` files; returns the request ids in order."""
    sink = ParquetSink(str(root), roll_bytes=1 << 30, roll_interval_s=3600)
    features = [c for c in frame.columns if c != prediction]
    ids: list[str] = []
    starts = list(range(0, len(frame), request_rows))
    per_file = max(1, -(-len(starts) // files))
    for chunk_no in range(0, len(starts), per_file):
        captures = []
        for i in starts[chunk_no : chunk_no + per_file]:
            part = frame.iloc[i : i + request_rows]
            request_id = f"{prefix}{i}"
            ids.append(request_id)
            data: dict[str, Any] = {c: part[c].to_numpy() for c in features}
            captures.append(
                Capture(
                    request_id=request_id,
                    ts=ts + spacing_s * i,
                    model=model,
                    version=version,
                    protocol="v2",
                    status=200,
                    latency_ms=1.0,
                    features=prepare(None, data),
                    outputs={"predict": np.asarray(part[prediction].to_numpy())},
                    user_key=None if user_keys is None else user_keys[i],
                )
            )
        by_day: dict[str, list[Capture]] = {}
        for c in captures:
            by_day.setdefault(utc_date(c.ts), []).append(c)
        for day, group in by_day.items():
            sink.write(Partition(project, endpoint, model, version, day), to_table(group))
        sink.roll(time.monotonic(), everything=True)
    return ids
