"""Streaming profiles and the Parquet path: exact where the docs say exact, within the
documented error where they say approximate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest

from shipyard.monitoring import (
    DriftReport,
    DriftSpec,
    MonitoringInputError,
    compare_profiles,
    detect_drift,
    detect_drift_parquet,
    profile_batches,
    profile_frame,
)
from shipyard.monitoring.profiles import NumericProfile, NumericSketch
from tests.monitoring._synthetic import ALL, window


def _batches(table: pa.Table, size: int) -> list[pa.RecordBatch]:
    return table.to_batches(max_chunksize=size)


def _assert_same(got: DriftReport, expected: DriftReport) -> None:
    """Same columns, methods, sizes and decisions; statistics equal up to float rounding
    (a sketch merges duplicates into weights and sums moments batch by batch)."""
    assert got.model_dump(exclude={"columns"}) == expected.model_dump(exclude={"columns"})
    for a, b in zip(got.columns, expected.columns, strict=True):
        fixed = {"statistic", "details"}
        assert a.model_dump(exclude=fixed) == b.model_dump(exclude=fixed)
        assert a.statistic == pytest.approx(b.statistic, rel=1e-9, abs=1e-12)
        assert a.details.keys() == b.details.keys()


def test_parquet_path_is_exact(tmp_path: Path) -> None:
    ref, cur = window(1, 5000), window(2, 5000, ALL)
    pq.write_table(pa.Table.from_pandas(ref, preserve_index=False), tmp_path / "ref.parquet")
    pq.write_table(pa.Table.from_pandas(cur, preserve_index=False), tmp_path / "cur.parquet")
    expected = detect_drift(ref, cur)
    assert detect_drift_parquet(tmp_path / "ref.parquet", tmp_path / "cur.parquet") == expected


@pytest.mark.parametrize("spec", [DriftSpec(), DriftSpec(numeric_method="ks"), DriftSpec(numeric_method="psi")])
def test_batches_within_capacity_are_exact(spec: DriftSpec) -> None:
    ref, cur = window(1, 5000), window(2, 5000, ALL)
    ref_t, cur_t = pa.Table.from_pandas(ref), pa.Table.from_pandas(cur)
    streamed = compare_profiles(profile_batches(_batches(ref_t, 700)), profile_batches(_batches(cur_t, 900)), spec)
    _assert_same(streamed, detect_drift(ref, cur, spec))
    assert compare_profiles(profile_frame(ref), profile_frame(cur), spec) == detect_drift(ref, cur, spec)


def test_sketch_beyond_capacity_stays_within_the_documented_error() -> None:
    rng = np.random.default_rng(3)
    n, capacity = 200_000, 2048
    ref = pa.table({"x": rng.lognormal(size=n)})
    cur = pa.table({"x": rng.lognormal(0.1, size=n)})
    exact = {m: detect_drift(ref, cur, DriftSpec(numeric_method=m)).columns[0] for m in ("ks", "wasserstein", "psi")}
    ref_p = profile_batches(_batches(ref, 10_000), capacity=capacity)
    cur_p = profile_batches(_batches(cur, 10_000), capacity=capacity)
    profile = ref_p.columns["x"]
    assert isinstance(profile, NumericProfile)
    assert len(profile.values) <= capacity  # bounded memory
    assert profile.count == n
    assert profile.std == pytest.approx(float(np.std(ref.column("x").to_numpy())), rel=1e-9)  # exact moments
    assert not profile.exact
    assert (profile.low, profile.high) == (float(np.min(ref.column("x"))), float(np.max(ref.column("x"))))  # exact
    for method, truth in exact.items():
        approx = compare_profiles(ref_p, cur_p, DriftSpec(numeric_method=method)).columns[0]
        assert approx.details["approximate"] == "sketch"
        if method == "ks":
            got, want = approx.details["ks_statistic"], truth.details["ks_statistic"]
            assert isinstance(got, float)
            assert isinstance(want, float)
            assert abs(got - want) <= 2 / capacity
            assert approx.details["p_value_method"] == "asymptotic"
        elif method == "wasserstein":
            assert approx.statistic == pytest.approx(truth.statistic, rel=0.02)
        else:
            assert approx.statistic == pytest.approx(truth.statistic, rel=0.05, abs=1e-3)
        assert approx.drifted == truth.drifted


def test_low_cardinality_numbers_stay_exact_in_a_small_sketch() -> None:
    rng = np.random.default_rng(4)
    values = rng.integers(0, 50, 100_000).astype(float)
    sketch = NumericSketch(capacity=64)
    for chunk in np.array_split(values, 37):
        sketch.add(chunk)
    profile = sketch.profile()
    assert profile.exact
    assert profile.count == 100_000
    keys, counts = profile.value_counts("x")
    assert dict(zip(keys, counts.tolist(), strict=True)) == dict(
        zip(*np.unique(values, return_counts=True), strict=True)
    )


def test_categorical_on_a_merged_sketch_is_refused() -> None:
    rng = np.random.default_rng(5)
    table = pa.table({"x": rng.normal(size=5000)})
    prof = profile_batches(_batches(table, 1000), capacity=128)
    with pytest.raises(MonitoringInputError, match="'x' has more distinct values than the streaming sketch keeps"):
        compare_profiles(prof, prof, DriftSpec(kinds={"x": "categorical"}))


def test_batches_must_keep_their_columns() -> None:
    first = pa.record_batch({"x": [1.0, 2.0]})
    second = pa.record_batch({"y": [1.0, 2.0]})
    with pytest.raises(MonitoringInputError, match="'x' is missing from a later batch"):
        profile_batches([first, second])


def test_pandas_batches_work_too() -> None:
    frame = window(1, 3000)
    chunks = [frame.iloc[i : i + 500] for i in range(0, 3000, 500)]
    streamed = compare_profiles(profile_batches(chunks), profile_batches(chunks))
    assert streamed.drifted_columns == []
    assert streamed.reference_rows == 3000
    assert isinstance(chunks[0], pd.DataFrame)
