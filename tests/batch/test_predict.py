"""`shipyard predict` in this process: inputs, outputs, order, failures, the job record."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest

from shipyard.batch import run_batch
from shipyard.batch.checkpoint import JobPaths, locked
from shipyard.batch.model_source import ModelSource
from shipyard.models import MANIFEST_FILE, load_model, save_model
from tests.batch.conftest import Invoke, record_of, write_parquet
from tests.batch.models import CrashOn, NonNegative, Stats, expected_row_sum, frame


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read(path: Path) -> pd.DataFrame:
    return pq.read_table(path).to_pandas()


def test_parquet_input_matches_predict_on_the_whole_input(
    invoke: Invoke, iris_dir: Path, iris_model: tuple[Any, Any], tmp_path: Path, home: Path
) -> None:
    _, features = iris_model
    data = pd.concat([features] * 20, ignore_index=True)  # 3,000 rows
    data.insert(0, "flower", [f"f{i}" for i in range(len(data))])
    source = write_parquet(data, tmp_path / "iris.parquet", row_group_size=700)
    output = tmp_path / "scores.parquet"

    result = invoke(str(iris_dir), "--input", str(source), "--output", str(output), "--key", "flower",
                    "--chunk-rows", "400", "--workers", "1")  # fmt: skip

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("succeeded: 3,000 of 3,000 rows predicted into")
    scores = read(output)
    assert list(scores.columns) == ["row_index", "flower", "prediction"]
    np.testing.assert_array_equal(scores["row_index"], np.arange(3000))
    assert scores["flower"].tolist() == data["flower"].tolist()
    np.testing.assert_array_equal(
        scores["prediction"], load_model(iris_dir).predict(features.iloc[np.arange(3000) % 150])
    )

    record = record_of(output)
    assert record["status"] == "succeeded"
    assert record["rows"] == {"input": 3000, "output": 3000, "failed": 0}
    assert record["chunks"] == {"total": 8, "finished": 8, "computed": 8, "reused": 0}
    assert record["input"]["sha256"] == sha256(source)
    assert record["input"]["files"] == [
        {"path": "iris.parquet", "format": "parquet", "bytes": source.stat().st_size, "sha256": sha256(source),
         "rows": 3000}
    ]  # fmt: skip
    assert record["output"] == {
        "path": str(output), "sha256": sha256(output), "bytes": output.stat().st_size,
        "columns": ["row_index", "flower", "prediction"],
    }  # fmt: skip
    assert record["model"]["uri"] == str(iris_dir)
    assert record["model"]["flavor"] == "sklearn"
    assert record["model"]["manifest_sha256"] == sha256(iris_dir / MANIFEST_FILE)
    assert record["options"] == {"keys": ["flower"], "chunk_rows": 400, "workers": 1, "skip_errors": False,
                                 "resume": False, "prediction_log": None}  # fmt: skip
    assert record["failures"] == []
    assert record["error"] is None
    assert record["started_at"] <= record["finished_at"]
    assert record["started_at"].endswith("Z")
    # Nothing of the checkpoint is left; one event line in the journal.
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "home",
        "iris.parquet",
        "scores.parquet",
        "scores.parquet.job.json",
    ]
    (event,) = [json.loads(line) for line in (home / "batch-jobs.jsonl").read_text().splitlines()]
    assert event["action"] == "batch_job.succeeded"
    assert event["object_type"] == "batch_job"
    assert event["object_id"] == record["job_id"]
    assert event["details"] == record


def test_csv_input_with_a_text_key(invoke: Invoke, row_sum_model: Path, tmp_path: Path) -> None:
    data = frame(1000)
    source = tmp_path / "rows.csv"
    data.to_csv(source, index=False)
    output = tmp_path / "out.parquet"

    result = invoke(str(row_sum_model), "-i", str(source), "-o", str(output), "-k", "id", "-k", "x",
                    "--chunk-rows", "64", "--workers", "1", "--json")  # fmt: skip

    assert result.exit_code == 0, result.output
    scores = read(output)
    assert list(scores.columns) == ["row_index", "id", "x", "prediction"]
    assert scores["id"].tolist() == data["id"].tolist()
    assert scores["x"].dtype == np.int64  # CSV keys keep the type pyarrow infers
    np.testing.assert_allclose(scores["prediction"], expected_row_sum(data))
    printed = json.loads(result.stdout)
    assert printed == record_of(output)
    assert printed["input"]["files"][0]["format"] == "csv"
    assert printed["input"]["files"][0]["rows"] is None
    assert printed["chunks"]["total"] == 16


def test_directory_input_reads_every_file_in_sorted_order(invoke: Invoke, row_sum_model: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    write_parquet(frame(250, start=0), folder / "a.parquet")
    (folder / "b").mkdir()
    frame(130, start=250).to_csv(folder / "b" / "part-0.csv", index=False)
    write_parquet(frame(70, start=380), folder / "c.parquet")
    write_parquet(frame(5, start=9000), folder / "_ignored.parquet")
    (folder / ".hidden.csv").write_text("x\n1\n")
    (folder / "notes.txt").write_text("not an input")
    output = tmp_path / "out.parquet"

    result = invoke(str(row_sum_model), "-i", str(folder), "-o", str(output), "-k", "id", "--chunk-rows", "100",
                    "--workers", "1")  # fmt: skip

    assert result.exit_code == 0, result.output
    scores = read(output)
    everything = frame(450)
    np.testing.assert_array_equal(scores["row_index"], np.arange(450))
    assert scores["id"].tolist() == everything["id"].tolist()
    np.testing.assert_allclose(scores["prediction"], expected_row_sum(everything))
    record = record_of(output)
    assert [f["path"] for f in record["input"]["files"]] == ["a.parquet", "b/part-0.csv", "c.parquet"]
    hashed = hashlib.sha256()
    for name in ("a.parquet", "b/part-0.csv", "c.parquet"):
        hashed.update((folder / name).read_bytes())
    assert record["input"]["sha256"] == hashed.hexdigest()
    # Chunks never span files: 3 + 2 + 1.
    assert record["chunks"]["total"] == 6


def test_two_workers_keep_input_order(invoke: Invoke, row_sum_model: Path, tmp_path: Path) -> None:
    data = frame(5000)
    source = write_parquet(data, tmp_path / "rows.parquet")
    output = tmp_path / "out.parquet"

    result = invoke(str(row_sum_model), "-i", str(source), "-o", str(output), "-k", "id", "--chunk-rows", "250",
                    "--workers", "2")  # fmt: skip

    assert result.exit_code == 0, result.output
    scores = read(output)
    np.testing.assert_array_equal(scores["row_index"], np.arange(5000))
    assert scores["id"].tolist() == data["id"].tolist()
    np.testing.assert_allclose(scores["prediction"], expected_row_sum(data))
    record = record_of(output)
    assert record["options"]["workers"] == 2
    assert record["chunks"] == {"total": 20, "finished": 20, "computed": 20, "reused": 0}


def test_a_model_with_several_outputs_gets_a_column_each(tmp_path: Path) -> None:
    save_model(Stats(), tmp_path / "stats")
    data = frame(300)
    source = write_parquet(data, tmp_path / "rows.parquet")

    job = run_batch(ModelSource("stats", tmp_path / "stats"), source, tmp_path / "out.parquet", keys=["id"],
                    chunk_rows=128, workers=1)  # fmt: skip

    assert job.error is None
    scores = read(tmp_path / "out.parquet")
    assert list(scores.columns) == ["row_index", "id", "low", "high"]
    np.testing.assert_allclose(scores["low"], data[["x", "a", "b"]].min(axis=1))
    np.testing.assert_allclose(scores["high"], data[["x", "a", "b"]].max(axis=1))


@pytest.fixture(scope="module")
def picky_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("models") / "non-negative"
    save_model(NonNegative(), path)  # no signature: it gets every column but the keys
    return path


@pytest.fixture(scope="module")
def bad_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """150,000 rows (more than the first CSV block, from which x is inferred to be an
    integer); x is text in rows 140,123-140,125 and negative in row 145,000."""
    data = frame(150_000)[["id", "x"]]
    x = data["x"].astype(object)
    x.iloc[140_123:140_126] = "oops"
    x.iloc[145_000] = -1
    data["x"] = x
    path = tmp_path_factory.mktemp("inputs") / "bad.csv"
    data.to_csv(path, index=False)
    return path


def test_failing_rows_stop_the_job_and_are_named(
    invoke: Invoke, picky_model: Path, bad_csv: Path, tmp_path: Path
) -> None:
    output = tmp_path / "out.parquet"

    result = invoke(str(picky_model), "-i", str(bad_csv), "-o", str(output), "-k", "id", "--chunk-rows", "2000",
                    "--workers", "1")  # fmt: skip

    assert result.exit_code == 2
    reason = result.stderr.strip().splitlines()[-1]
    assert reason.startswith("error: rows 140123-140125 failed: the pyfunc model rejected its input: ")
    assert "oops" in reason
    assert reason.endswith("rerun with --skip-errors to skip failing rows (--resume keeps the finished chunks)")
    assert "warning: rows 140123-140125 failed" in result.stderr
    assert not output.exists()
    record = record_of(output)
    assert record["status"] == "failed"
    assert record["error"]["code"] == "VALIDATION_FAILED"
    (failure,) = record["failures"]
    assert (failure["first_row"], failure["last_row"], failure["rows"]) == (140_123, 140_125, 3)
    # It stopped at the first failing chunk (70, counting from 0); the 70 before it are
    # checkpointed, and so is the failing one. (CSV: the number of chunks is not known.)
    assert record["chunks"] == {"total": None, "finished": 71, "computed": 71, "reused": 0}
    assert record["checkpoint"] == str(tmp_path / "out.parquet.parts")

    # Continue from the checkpoint, leaving the bad rows out: the finished chunks are kept,
    # the failed chunk's good rows too (they are in its part file); 4 chunks remain.
    resumed = invoke(str(picky_model), "-i", str(bad_csv), "-o", str(output), "-k", "id", "--chunk-rows", "2000",
                     "--workers", "1", "--resume", "--skip-errors")  # fmt: skip

    assert resumed.exit_code == 0, resumed.output
    record = record_of(output)
    assert record["status"] == "partial"
    assert record["chunks"] == {"total": 75, "finished": 75, "computed": 4, "reused": 71}
    assert [(f["first_row"], f["last_row"]) for f in record["failures"]] == [(140_123, 140_125), (145_000, 145_000)]
    assert "negative x: -1" in record["failures"][1]["error"]
    assert record["rows"] == {"input": 150_000, "output": 149_996, "failed": 4}
    scores = read(output)
    kept = np.setdiff1d(np.arange(150_000), [140_123, 140_124, 140_125, 145_000])
    np.testing.assert_array_equal(scores["row_index"], kept)
    np.testing.assert_array_equal(scores["prediction"], kept * 2.0)
    assert scores["id"].tolist() == [f"r{i}" for i in kept]


def test_checks_before_the_job_starts(invoke: Invoke, row_sum_model: Path, tmp_path: Path) -> None:
    source = write_parquet(frame(10), tmp_path / "rows.parquet")
    output = tmp_path / "out.parquet"

    unknown_key = invoke(str(row_sum_model), "-i", str(source), "-o", str(output), "-k", "nope")
    assert unknown_key.exit_code == 2
    assert unknown_key.stderr.strip() == "error: input file 'rows.parquet' has no key column 'nope'"

    write_parquet(frame(10)[["id", "x"]], tmp_path / "narrow.parquet")
    missing = invoke(str(row_sum_model), "-i", str(tmp_path / "narrow.parquet"), "-o", str(output))
    assert missing.exit_code == 2
    assert missing.stderr.strip() == "error: input file 'narrow.parquet' has no column 'a', which the model takes"

    inside = invoke(str(row_sum_model), "-i", str(tmp_path), "-o", str(tmp_path / "sub" / "out.parquet"))
    assert inside.exit_code == 2
    assert inside.stderr.strip() == "error: --output may not be inside the --input directory"

    no_model = invoke(str(tmp_path / "nowhere"), "-i", str(source), "-o", str(output))
    assert no_model.exit_code == 3
    assert "no model directory" in no_model.stderr

    assert invoke(str(row_sum_model), "-i", str(source), "-o", str(output), "-k", "id").exit_code == 0
    again = invoke(str(row_sum_model), "-i", str(source), "-o", str(output), "-k", "id")
    assert again.exit_code == 4
    assert "already exists; pass --overwrite" in again.stderr
    assert invoke(str(row_sum_model), "-i", str(source), "-o", str(output), "--overwrite").exit_code == 0
    assert list(read(output).columns) == ["row_index", "prediction"]


def test_resume_refuses_a_checkpoint_of_another_input(invoke: Invoke, picky_model: Path, tmp_path: Path) -> None:
    data = frame(100)[["id", "x"]]
    data.loc[60, "x"] = -5
    source = write_parquet(data, tmp_path / "rows.parquet")
    output = tmp_path / "out.parquet"
    assert invoke(str(picky_model), "-i", str(source), "-o", str(output), "--chunk-rows", "10").exit_code == 2

    data.loc[60, "x"] = 60
    write_parquet(data, source)
    refused = invoke(str(picky_model), "-i", str(source), "-o", str(output), "--chunk-rows", "10", "--resume")

    assert refused.exit_code == 2
    assert "was made with a different input_sha256; run again without --resume" in refused.stderr
    fresh = invoke(str(picky_model), "-i", str(source), "-o", str(output), "--chunk-rows", "10")
    assert fresh.exit_code == 0, fresh.output
    assert record_of(output)["chunks"] == {"total": 10, "finished": 10, "computed": 10, "reused": 0}


def test_a_worker_that_dies_fails_the_job_and_keeps_the_finished_chunks(invoke: Invoke, tmp_path: Path) -> None:
    save_model(CrashOn(crash_at=1500), tmp_path / "crash")
    source = write_parquet(frame(2000)[["id", "x"]], tmp_path / "rows.parquet")
    output = tmp_path / "out.parquet"

    result = invoke(str(tmp_path / "crash"), "-i", str(source), "-o", str(output), "-k", "id", "--chunk-rows", "100",
                    "--workers", "2")  # fmt: skip

    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: a worker process died (killed, out of memory")
    record = record_of(output)
    assert record["status"] == "failed"
    assert record["error"]["code"] == "INTERNAL"
    assert 15 in record["error"]["details"]["chunks"]
    assert record["checkpoint"] == str(tmp_path / "out.parquet.parts")
    assert not output.exists()


def test_one_job_per_output(invoke: Invoke, row_sum_model: Path, tmp_path: Path) -> None:
    source = write_parquet(frame(10), tmp_path / "rows.parquet")
    output = tmp_path / "out.parquet"

    with locked(JobPaths(output)):
        second = invoke(str(row_sum_model), "-i", str(source), "-o", str(output))

    assert second.exit_code == 4
    assert second.stderr.strip() == f"error: another job is writing '{output}' (it holds out.parquet.lock)"
    assert invoke(str(row_sum_model), "-i", str(source), "-o", str(output)).exit_code == 0
    assert not (tmp_path / "out.parquet.lock").exists()


def test_a_key_named_like_a_prediction_column_fails_the_job(
    invoke: Invoke, row_sum_model: Path, tmp_path: Path
) -> None:
    data = frame(10)
    data["prediction"] = "mine"
    source = write_parquet(data, tmp_path / "rows.parquet")
    output = tmp_path / "out.parquet"

    result = invoke(str(row_sum_model), "-i", str(source), "-o", str(output), "-k", "prediction")

    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: the model's output column 'prediction' has the name of a key or row_index column; "
        "choose other --key columns"
    )
    assert record_of(output)["status"] == "failed"
