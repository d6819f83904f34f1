"""Monitor runs stream their window and their reference (issue 7, "windows larger than memory").

Each test runs monitors through the SDK (local mode) with the batch size and the sketch capacity
set through the ``monitoring.*`` settings, and compares the stored result with the in-memory
computation a run made before it streamed: the whole window read with DuckDB into a DataFrame
(``SELECT * FROM predictions_with_feedback``), the reference read with pandas, then
``detect_drift``, ``infer_quality_spec`` + ``check_quality`` and ``compute_performance``.

- Windows within the sketch capacity: the same result (statistics to float rounding).
- Windows many times the capacity: the same decisions, statistics within the documented
  sketch error (docs/monitoring.md).
- ``last N`` windows: the newest N predictions, ties of ``ts`` included.
- Memory: a window ten times larger costs no more Python memory (tracemalloc, in a subprocess),
  while reading it as a frame costs ten times more.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest

from shipyard.client import Client
from shipyard.client.datasets import describe
from shipyard.monitoring import DriftSpec, check_quality, detect_drift, infer_quality_spec
from shipyard.monitoring.logstore import LogStore
from shipyard.monitoring.performance import PerformanceSpec, compute_performance
from shipyard.monitoring.schemas import MonitorResultOut
from shipyard.settings import Settings, load_settings
from tests.monitoring._predlog import write_log
from tests.monitoring._synthetic import ALL, Injection, window

REF, CUR = 7, 1007


def _settings(tmp_path: Path, **monitoring: int) -> Settings:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    values: dict[str, Any] = {"home": str(home), "database.url": f"sqlite:///{home / 'shipyard.db'}"}
    values |= {"logging.level": "WARNING", **{f"monitoring.{k}": v for k, v in monitoring.items()}}
    return load_settings(values).settings


def _with_visits(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Add ``visits``: integers 0-6 with some missing — pandas reads them as floats, so the
    in-memory path compared them as numbers, not as categories."""
    rng = np.random.default_rng(seed)
    visits = pd.array(rng.integers(0, 7, len(frame)), dtype="Int64")
    visits[rng.random(len(frame)) < 0.1] = pd.NA
    return frame.assign(visits=visits)


def _reference(client: Client, tmp_path: Path, frame: pd.DataFrame, fmt: str, name: str = "golden") -> pd.DataFrame:
    """Register ``frame`` as dataset ``name``: Parquet written by Arrow (integers with nulls stay
    int64 in the file), or CSV; returns the file as the in-memory path read it (pandas)."""
    path = tmp_path / f"{name}.{fmt}"
    if fmt == "parquet":
        table = pa.Table.from_pandas(frame, preserve_index=False)
        table = table.cast(pa.schema([f.with_type(pa.int64()) if f.name == "visits" else f for f in table.schema]))
        pq.write_table(table.replace_schema_metadata(None), path)  # no pandas metadata: plain int64
    else:
        frame.to_csv(path, index=False)
    run = client.create_run(name="data")
    client.log_inputs(run.id, [describe(path, name=name, context="reference")])
    return pd.read_parquet(path) if fmt == "parquet" else pd.read_csv(path)


def _log(settings: Settings, client: Client, frame: pd.DataFrame, *, labels: int = 0, **kwargs: Any) -> None:
    """Log ``frame``; with ``labels`` = k, send a label (flipped in slice C) for every k-th request."""
    ids = write_log(Path(settings.prediction_log_url), frame.astype({"visits": "float64"}), **kwargs)
    if labels:
        truth = frame["prediction"].to_numpy().copy()
        truth[frame["segment"].to_numpy() == "C"] ^= 1
        first = np.arange(len(ids)) * kwargs.get("request_rows", 1)
        sent = pd.DataFrame({"request_id": ids, "label": truth[first]}).iloc[::labels]
        client.monitoring.feedback("churn", sent)


def _frame_path(
    settings: Settings,
    reference: pd.DataFrame,
    result: MonitorResultOut,
    drift: DriftSpec,
    performance: PerformanceSpec | None,
    last: int | None = None,
) -> dict[str, Any]:
    """What a run computed before it streamed: every row of the window in one DataFrame."""
    where = "project = 'default' AND endpoint = 'churn' AND error IS NULL AND rows > 0 AND ts <= ?"

    def read(con: Any) -> pd.DataFrame:
        if last is None:
            sql = f"SELECT * FROM predictions_with_feedback WHERE {where} AND ts > ? ORDER BY ts"
            return con.execute(sql, [result.window_end, result.window_start]).df()
        sql = f"SELECT * FROM predictions_with_feedback WHERE {where} ORDER BY ts DESC LIMIT {last}"
        return con.execute(sql, [result.window_end]).df().iloc[::-1].reset_index(drop=True)

    frame = LogStore.from_settings(settings).run(read)
    renamed = {c: c[2:] for c in frame.columns if c.startswith("f_")}
    current = frame[[*renamed, "prediction"]].rename(columns=renamed)
    columns = [c for c in current.columns if c in set(reference.columns)]
    report = detect_drift(reference, current, drift.model_copy(update={"columns": columns}))
    quality = check_quality(current[columns], infer_quality_spec(reference[columns]))
    out: dict[str, Any] = {"frame": frame, "drift": report, "quality": quality}
    if performance is not None:
        out["performance"] = compute_performance(frame, performance)
    return out


def _close(got: Any, want: Any) -> bool:
    """Equal, numbers to float rounding (a sketch sums moments batch by batch)."""
    if isinstance(want, float) and isinstance(got, int | float):
        return got == pytest.approx(want, rel=1e-9, abs=1e-12)
    return bool(got == want)


def _same_column(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert got.keys() == want.keys()
    assert got["details"].keys() == want["details"].keys(), got["column"]
    for key, value in want.items():
        if key == "details":
            assert all(_close(got[key][k], v) for k, v in value.items()), (got, want)
        else:
            assert _close(got[key], value), (key, got, want)


def _same_quality(stored: dict[str, Any] | None, expected: Any) -> None:
    assert stored is not None
    checks = sorted(expected.checks, key=lambda c: c.passed)
    assert stored["checks"] == [c.model_dump(mode="json") for c in checks]
    assert (stored["rows"], stored["passed"]) == (expected.rows, expected.passed)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_window_within_the_sketch_capacity_gives_the_in_memory_result(tmp_path: Path, fmt: str) -> None:
    """3,060 rows (60 repeated) read in batches of 256: drift statistics, quality checks (the
    duplicates counted by DuckDB) and performance as the in-memory path computed them."""
    settings = _settings(tmp_path, batch_rows=256)
    reference = _with_visits(window(REF, 2500), 1)
    current = _with_visits(window(CUR, 3000, ALL), 2)
    current = pd.concat([current, current.iloc[:60]], ignore_index=True)
    performance = PerformanceSpec(slices=["segment", "visits"])
    with Client(settings=settings) as client:
        as_read = _reference(client, tmp_path, reference, fmt)
        _log(settings, client, current, labels=1, ts=time.time() - 60, request_rows=1, files=4)
        client.monitoring.create_monitor(
            "streamed",
            "churn",
            window="1h",
            reference={"kind": "dataset", "dataset": "golden"},
            performance=performance.model_dump(),
        )
        result = client.monitoring.run_monitor("streamed")
    assert result.status == "warning", result.message
    assert as_read["visits"].dtype == "float64"  # pandas reads integers with missing values as floats
    expected = _frame_path(settings, as_read, result, DriftSpec(), performance)
    assert (result.n_rows, result.n_labeled, result.reference_rows) == (3060, 3060, 2500)
    report = expected["drift"]
    assert result.drifted_columns == report.drifted_columns
    assert {"age", "region", "prediction"} <= set(result.drifted_columns)
    assert (result.drift_share, result.dataset_drift) == (report.share_of_drifted_columns, report.dataset_drift)
    for got, want in zip(result.features, report.columns, strict=True):
        _same_column(got, want.model_dump(mode="json"))
    by_column = {f["column"]: f for f in result.features}
    assert by_column["visits"]["kind"] == "numeric"  # an integer with missing values, as pandas read it
    _same_quality(result.quality, expected["quality"])
    assert result.quality is not None
    [duplicates] = [c for c in result.quality["checks"] if c["check"] == "duplicates"]
    assert (duplicates["count"], duplicates["passed"]) == (60, False)
    assert result.performance == expected["performance"].model_dump(mode="json")


def test_a_window_many_times_the_sketch_capacity_agrees_within_the_documented_error(tmp_path: Path) -> None:
    """6,000 rows against a 4,000-row reference with a 256-point sketch read 500 rows at a time:
    numbers are approximate (the KS statistic within 2 / capacity, the normalised Wasserstein
    distance within 4 / capacity of the value range over the reference's deviation), categories,
    quality and the decisions exact."""
    capacity = 256
    settings = _settings(tmp_path, batch_rows=500, sketch_capacity=capacity)
    reference = window(REF, 4000).assign(visits=pd.array([1] * 4000, dtype="Int64"))
    current = window(CUR, 6000, Injection(shift_age=0.3, new_region_share=0.1)).assign(visits=1.0)
    with Client(settings=settings) as client:
        as_read = _reference(client, tmp_path, reference, "parquet")
        _log(settings, client, current, ts=time.time() - 60, request_rows=20)
        dataset = {"kind": "dataset", "dataset": "golden"}
        client.monitoring.create_monitor("auto", "churn", window="1h", reference=dataset)
        client.monitoring.create_monitor("ks", "churn", window="1h", reference=dataset, drift={"numeric_method": "ks"})
        results = {name: client.monitoring.run_monitor(name) for name in ("auto", "ks")}
    numeric = {"age", "income", "tenure", "score"}
    for name, result in results.items():
        drift = DriftSpec(numeric_method="ks") if name == "ks" else DriftSpec()
        expected = _frame_path(settings, as_read, result, drift, None)
        report = expected["drift"]
        assert result.n_rows == 6000
        assert result.drifted_columns == report.drifted_columns
        assert "age" in result.drifted_columns
        assert "region" in result.drifted_columns
        for got, want in zip(result.features, report.columns, strict=True):
            assert (got["column"], got["method"], got["drifted"]) == (want.column, want.method, want.drifted)
            assert (got["reference_size"], got["current_size"]) == (want.reference_size, want.current_size)
            if want.column not in numeric:
                assert got["statistic"] == pytest.approx(want.statistic, rel=1e-9, abs=1e-12)
                assert "approximate" not in got["details"]
                continue
            assert got["details"]["approximate"] == "sketch"
            if want.method == "ks":
                assert abs(got["details"]["ks_statistic"] - want.details["ks_statistic"]) <= 2 / capacity
            else:
                assert want.method == "wasserstein"
                values = reference[want.column].to_numpy(dtype=float)
                both = np.concatenate([values, current[want.column].to_numpy(dtype=float)])
                span = (np.nanmax(both) - np.nanmin(both)) / max(float(np.nanstd(values)), 0.001)
                assert abs(got["statistic"] - want.statistic) <= 4 / capacity * span
        _same_quality(result.quality, expected["quality"])


def test_last_n_is_the_newest_n_predictions_ties_included(tmp_path: Path) -> None:
    """Requests of 8 rows share a timestamp: the newest 404 rows end inside a request."""
    settings = _settings(tmp_path, batch_rows=100)
    start = time.time() - 3600
    with Client(settings=settings) as client:
        as_read = _reference(client, tmp_path, _with_visits(window(REF, 800), 1), "parquet")
        current = _with_visits(window(CUR, 1600), 2)
        _log(settings, client, current, labels=2, ts=start, request_rows=8, spacing_s=1)
        dataset = {"kind": "dataset", "dataset": "golden"}
        client.monitoring.create_monitor("last", "churn", window="last 404", reference=dataset, quality=False)
        result = client.monitoring.run_monitor("last")
    # rows 1196-1599: requests 150-199 whole (the even ones labelled) and 4 rows of request 149
    assert (result.n_rows, result.n_labeled) == (404, 200)
    assert result.window_start is not None
    assert abs(result.window_start.timestamp() - (start + 1192)) < 1e-3  # request 149 is logged at row 1192
    assert {f["current_size"] for f in result.features if f["column"] == "age"} == {404}
    expected = _frame_path(settings, as_read, result, DriftSpec(), None, last=404)
    assert expected["frame"]["ts"].min().to_pydatetime() == result.window_start
    assert result.drifted_columns == expected["drift"].drifted_columns
    assert [f["current_size"] for f in result.features] == [c.current_size for c in expected["drift"].columns]


@pytest.mark.parametrize("n", [1, 7, 250, 999, 1000, 1500])
def test_the_newest_n_rows_are_those_a_top_n_picks(tmp_path: Path, n: int) -> None:
    """The counting search for the N-th newest timestamp selects exactly the rows of
    ``ORDER BY ts DESC, request_id DESC, row DESC LIMIT N``: requests of random sizes at random
    times, many sharing a timestamp."""
    from shipyard.monitoring._window import LogWindow

    settings = _settings(tmp_path)
    rng = np.random.default_rng(n)
    start, offset, rows = time.time() - 86_400, 0, 0
    while rows < 1000:
        size = int(rng.integers(1, 12))
        at = start + float(rng.choice([0.0, 1.0, 2.5, rng.uniform(0, 80_000)]))
        write_log(
            Path(settings.prediction_log_url), window(int(rng.integers(1 << 30)), size), ts=at, prefix=f"q{offset}-"
        )
        offset, rows = offset + 1, rows + size
    store = LogStore.from_settings(settings)
    now = datetime.now(UTC)

    def picked(con: Any) -> tuple[set[tuple[str, int]], set[tuple[str, int]], int]:
        chosen = LogWindow(con, "default", "churn", n, now, 100)
        mine = con.execute(f'SELECT request_id, "row" FROM predictions WHERE {chosen.where}', chosen.params).fetchall()
        sql = 'SELECT request_id, "row" FROM predictions ORDER BY ts DESC, request_id DESC, "row" DESC LIMIT ?'
        top = con.execute(sql, [n]).fetchall()
        return set(mine), set(top), chosen.rows

    mine, top, counted = store.run(picked)
    assert mine == top
    assert counted == len(top) == min(n, rows)


def test_a_drift_spec_naming_its_own_columns_compares_those_and_quality_the_monitors(tmp_path: Path) -> None:
    """``drift.columns`` may reach past the monitor's ``columns``: drift compares the drift
    spec's columns, quality only the monitor's (no extra_column finding for the others)."""
    settings = _settings(tmp_path, batch_rows=128)
    with Client(settings=settings) as client:
        _reference(client, tmp_path, _with_visits(window(REF, 800), 1), "parquet")
        _log(settings, client, _with_visits(window(CUR, 600), 2), ts=time.time() - 60, request_rows=10)
        dataset = {"kind": "dataset", "dataset": "golden"}
        client.monitoring.create_monitor(
            "own", "churn", window="1h", reference=dataset, columns=["age", "region"],
            drift={"columns": ["age", "income"]},
        )  # fmt: skip
        client.monitoring.create_monitor("bad", "churn", window="1h", reference=dataset, drift={"columns": ["moon"]})
        result, bad = client.monitoring.run_monitor("own"), client.monitoring.run_monitor("bad")
    assert [f["column"] for f in result.features] == ["age", "income"]
    assert result.quality is not None
    assert {c["column"] for c in result.quality["checks"]} == {"age", "region", None}  # None: duplicates
    assert (bad.status, bad.message) == ("error", "column 'moon' is not in the reference data")


def test_a_csv_reference_widens_a_column_as_pandas_does(tmp_path: Path) -> None:
    """A column of integers that turns into decimals after the first block Arrow typed it from
    is read as floats (as pandas.read_csv does), not refused."""
    settings = _settings(tmp_path, batch_rows=64)
    visits = pd.Series([*(i % 7 for i in range(3999)), 2.5], dtype=object)  # written as 0, 1, …, 2.5
    reference = window(REF, 4000).assign(visits=visits)
    text = reference.to_csv(index=False)
    assert len(text) > 64 * 1024  # the last line is past the first block Arrow reads (64 KiB at 64 rows a batch)
    assert text.splitlines()[1].endswith(",0")
    with Client(settings=settings) as client:
        as_read = _reference(client, tmp_path, reference, "csv")
        _log(settings, client, _with_visits(window(CUR, 500), 2), ts=time.time() - 60, request_rows=10)
        client.monitoring.create_monitor(
            "csv", "churn", window="1h", reference={"kind": "dataset", "dataset": "golden"}
        )
        result = client.monitoring.run_monitor("csv")
    assert result.status != "error", result.message
    assert as_read["visits"].dtype == "float64"
    assert result.reference_rows == 4000
    assert {f["column"]: f["kind"] for f in result.features}["visits"] == "numeric"
    assert result.quality is not None
    visits_type = next(c for c in result.quality["checks"] if c["check"] == "type" and c["column"] == "visits")
    assert visits_type["details"]["expected"] == "float64"


def test_the_report_plots_a_bounded_sample(tmp_path: Path) -> None:
    """``monitoring.report_sample_rows`` caps the rows each side's distribution plots read."""
    settings = _settings(tmp_path, report_sample_rows=100)
    with Client(settings=settings) as client:
        _reference(client, tmp_path, _with_visits(window(REF, 800), 1), "parquet")
        _log(settings, client, _with_visits(window(CUR, 600), 2), ts=time.time() - 60, request_rows=10)
        client.monitoring.create_monitor(
            "plots", "churn", window="1h", reference={"kind": "dataset", "dataset": "golden"}
        )
        text = client.monitoring.report("plots")
    assert "600 predictions up to" in text  # the window's size: counted, not sampled
    assert "at most 100 rows of the window and of the reference" in text
    assert text.count('alt="distribution of') == 9

    from shipyard.monitoring._window import LogWindow, ReferenceFile

    def samples(con: Any) -> tuple[int, int]:
        window_ = LogWindow(con, "default", "churn", timedelta(hours=1), datetime.now(UTC), 64)
        reference = ReferenceFile(str(tmp_path / "golden.parquet"), "reference", 64)
        return len(window_.sample(window_.features(), 100)), len(reference.sample(con, ["age", "region"], 100))

    assert LogStore.from_settings(settings).run(samples) == (100, 100)  # of 600 and 800 rows


# --- memory ---------------------------------------------------------------------------------

MEASURE = textwrap.dedent(
    """
    import json, sys, tracemalloc
    from datetime import datetime
    from shipyard.monitoring import service
    from shipyard.monitoring.logstore import LogStore
    from shipyard.projects import service as projects
    from shipyard.settings import load_settings
    from shipyard.store.engine import Database

    home, now = sys.argv[1], datetime.fromisoformat(sys.argv[2])
    settings = load_settings({"home": home, "monitoring.batch_rows": 2000, "monitoring.sketch_capacity": 1024}).settings
    store = LogStore.from_settings(settings)
    db = Database(settings.database_url)
    where = "project = 'default' AND endpoint = ? AND error IS NULL AND rows > 0 AND ts <= ?"
    out = {}
    with db.session() as session:
        project = projects.get_by_name(session, "default")
        service.run(session, project, service.get(session, project, "small"), store, now=now)  # warm up
        tracemalloc.start()
        for name in ("small", "large"):
            monitor = service.get(session, project, name)
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            result = service.run(session, project, monitor, store, now=now)
            streamed = tracemalloc.get_traced_memory()[1] - base
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            frame = store.run(lambda con: con.execute(
                f"SELECT * FROM predictions_with_feedback WHERE {where}", [monitor.endpoint, now]).df())
            as_frame = tracemalloc.get_traced_memory()[1] - base
            del frame
            out[name] = {"rows": result.n_rows, "status": result.status, "message": result.message,
                         "streamed": streamed, "frame": as_frame}
    print(json.dumps(out))
    """
)


def test_a_run_holds_no_more_python_memory_for_a_window_ten_times_larger(tmp_path: Path) -> None:
    """Peak Python allocations (tracemalloc: numpy and pandas buffers included) of a run over
    200,000 rows stay within those of a run over 20,000 rows, the same reference and settings
    (batches of 2,000 rows, a 1,024-point sketch); reading either window as a frame, as runs
    did, costs in proportion to its rows — so the measurement does see window-sized memory."""
    settings = _settings(tmp_path)
    ts = time.time() - 600
    with Client(settings=settings) as client:
        _reference(client, tmp_path, _with_visits(window(REF, 20_000), 1), "parquet")
        for endpoint, rows in (("small", 20_000), ("large", 200_000)):
            frame = _with_visits(window(CUR + rows, rows, Injection(shift_age=0.2)), 2).astype({"visits": "float64"})
            write_log(Path(settings.prediction_log_url), frame, ts=ts, endpoint=endpoint, request_rows=1000, files=4)
            client.monitoring.create_monitor(
                endpoint, endpoint, window="1h", reference={"kind": "dataset", "dataset": "golden"}
            )
    now = datetime.now(UTC) + timedelta(seconds=1)
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(settings.home), now.isoformat()],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    small, large = measured["small"], measured["large"]
    assert (small["rows"], large["rows"]) == (20_000, 200_000)
    assert "error" not in (small["status"], large["status"]), (small["message"], large["message"])
    assert large["frame"] > 8 * small["frame"]  # a frame grows with the window...
    assert large["streamed"] < 1.5 * small["streamed"]  # ...a streamed run does not
    assert large["streamed"] < large["frame"] / 4
