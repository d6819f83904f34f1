"""The prediction log on disk: DuckDB queries (through the CLI too), retention by date
partition, compaction that never shows a reader a row twice or loses one."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shipyard.cli.main import app
from shipyard.errors import InvalidArgument
from shipyard.monitoring.logstore import LogStore, live_files, parse_age
from tests.monitoring._predlog import write_log
from tests.monitoring._synthetic import window

DAY = 86_400.0
TS = 1_767_312_000.0  # 2026-01-02T00:00:00Z


@pytest.fixture
def logs(tmp_path: Path) -> LogStore:
    return LogStore(tmp_path / "home" / "prediction-log", tmp_path / "home" / "feedback")


def _cli(runner: CliRunner, home: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--home", str(home), "monitor", *args])
    return result.exit_code, result.output


def test_query_through_the_cli(logs: LogStore, runner: CliRunner, tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_log(logs.predictions_root, window(1, 30), ts=TS, files=3)
    write_log(logs.predictions_root, window(2, 20), ts=TS, endpoint="fraud", prefix="f")
    code, output = _cli(
        runner,
        home,
        "query",
        "SELECT endpoint, count(*) AS n, avg(f_age) > 0 AS ok FROM predictions GROUP BY endpoint ORDER BY endpoint",
        "--json",
    )
    assert code == 0, output
    assert json.loads(output) == {
        "columns": ["endpoint", "n", "ok"],
        "rows": [{"endpoint": "churn", "n": 30, "ok": True}, {"endpoint": "fraud", "n": 20, "ok": True}],
        "truncated": False,
    }
    code, output = _cli(runner, home, "query", "SELECT request_id FROM predictions ORDER BY ts", "--limit", "5")
    assert code == 0
    assert "first 5 rows" in output
    code, output = _cli(runner, home, "query", "SELECT nope FROM predictions")
    assert code != 0
    assert "the query failed" in output


def test_an_empty_log_still_has_its_views(logs: LogStore) -> None:
    result = logs.query("SELECT count(*) FROM predictions_with_feedback")
    assert result.rows == [[0]]
    with pytest.raises(InvalidArgument) as caught:
        logs.query("SELECT 1", limit=0)
    assert caught.value.details == {"field": "limit"}


def test_retention_deletes_whole_old_date_partitions(logs: LogStore, runner: CliRunner, tmp_path: Path) -> None:
    for day in range(4):  # 2026-01-02 .. 2026-01-05
        write_log(logs.predictions_root, window(day, 10), ts=TS + day * DAY, prefix=f"d{day}-")
    now = datetime(2026, 1, 5, 12, tzinfo=UTC)
    listed = logs.expired(timedelta(days=2), now=now)
    assert sorted(p.date.isoformat() for p in listed) == ["2026-01-02"]  # 01-03 ends after the cutoff 01-03T12
    assert logs.query("SELECT count(*) FROM predictions").rows == [[40]]  # listing deletes nothing
    logs.apply_retention(timedelta(days=2), now=now, dry_run=False)
    assert logs.query("SELECT min(date)::VARCHAR, count(*) FROM predictions").rows == [["2026-01-03", 30]]

    code, output = _cli(runner, tmp_path / "home", "retention", "--older-than", "1d", "--json")
    assert code == 0, output
    body = json.loads(output)
    assert body["applied"] is False
    assert len(body["partitions"]) == 3
    assert logs.query("SELECT count(*) FROM predictions").rows == [[30]]  # a dry run
    with pytest.raises(InvalidArgument, match="older_than '3 weeks'"):
        parse_age("3 weeks")


def test_compaction_keeps_every_row_exactly_once_under_concurrent_readers(logs: LogStore) -> None:
    for i in range(6):
        write_log(logs.predictions_root, window(i, 50), ts=TS + i, prefix=f"b{i}-", files=2)
    expected = logs.query("SELECT request_id, f_age FROM predictions ORDER BY request_id").rows
    assert len(expected) == 300
    seen: list[int] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                rows = logs.query("SELECT count(*), count(DISTINCT request_id) FROM predictions").rows
                seen.append(rows[0][0])
                assert rows[0][0] == rows[0][1]
            except BaseException as exc:  # reported below
                errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        first = logs.compact()
        write_log(logs.predictions_root, window(9, 50), ts=TS + 9, prefix="late-", files=3)  # more small files
        second = logs.compact()
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors
    assert set(seen) <= {300, 317, 334, 350}
    assert seen
    assert (first.files_merged, first.files_written, first.rows) == (12, 1, 300)
    assert (second.files_merged, second.rows) == (4, 350)  # the compacted file and the 3 new ones
    [directory] = logs.partition_dirs("predictions")
    assert [p.name.startswith("compact-") for p in live_files(directory)] == [True]
    after = logs.query("SELECT request_id, f_age FROM predictions WHERE request_id NOT LIKE 'late-%' ORDER BY 1").rows
    assert after == expected


def test_an_interrupted_compaction_is_invisible_and_finished_later(logs: LogStore) -> None:
    """Committed (renamed) but its sources not yet deleted: readers skip the sources; the next
    compaction deletes them. Not committed: its manifest is ignored and cleaned up."""
    write_log(logs.predictions_root, window(1, 40), ts=TS, files=4)
    [directory] = logs.partition_dirs("predictions")
    sources = [p.name for p in live_files(directory)]
    merged = directory / "compact-aaaa.parquet"
    merged.write_bytes((directory / sources[0]).read_bytes())  # as if it held sources[0] only
    (directory / ".compact-aaaa.replaces").write_text(json.dumps(sources[:1]))
    (directory / ".compact-bbbb.replaces").write_text(json.dumps(sources[1:]))  # never committed
    assert len(live_files(directory)) == 4  # sources[0] hidden, compact-aaaa in its place
    assert logs.query("SELECT count(*), count(DISTINCT request_id) FROM predictions").rows == [[40, 40]]
    result = logs.compact(small_bytes=1)  # nothing is small: only the pending work is done
    assert result.pending_finished == 2
    assert result.files_merged == 0
    assert not (directory / sources[0]).exists()
    assert not list(directory.glob(".compact-*.replaces"))
    assert logs.query("SELECT count(*), count(DISTINCT request_id) FROM predictions").rows == [[40, 40]]


def test_object_storage_is_refused_by_name() -> None:
    from shipyard.settings import load_settings

    settings = load_settings({"monitoring.prediction_log_url": "s3://bucket/log"}).settings
    with pytest.raises(InvalidArgument) as caught:
        LogStore.from_settings(settings)
    assert caught.value.details == {"field": "monitoring.prediction_log_url"}
