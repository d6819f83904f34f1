"""`shipyard predict --prediction-log`: the server's prediction log records, for a batch job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.dataset as ds  # type: ignore[import-untyped]
import pytest

from shipyard.models import save_model
from shipyard.serving.model import content_version
from shipyard.serving.predlog import BASE_SCHEMA, PARTITION_SCHEMA
from tests.batch.conftest import Invoke, record_of, write_parquet
from tests.batch.models import NonNegative, expected_row_sum, frame


def read_log(root: Path) -> pd.DataFrame:
    """Every record under ``root``, with the hive keys typed as the docs say to read them."""
    files = sorted(p for p in root.rglob("*.parquet") if not p.name.startswith("."))
    assert files, f"no published log file under {root}"
    partitioning = ds.partitioning(PARTITION_SCHEMA, flavor="hive")
    table = ds.dataset(
        [str(p) for p in files], format="parquet", partitioning=partitioning, partition_base_dir=str(root)
    )
    return table.to_table().to_pandas().sort_values("row", kind="stable").reset_index(drop=True)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_every_predicted_row_is_logged_as_the_server_logs_it(
    invoke: Invoke, row_sum_model: Path, tmp_path: Path, workers: str
) -> None:
    data = frame(1_000)
    source = write_parquet(data, tmp_path / "rows.parquet")
    output = tmp_path / "out.parquet"
    log_root = tmp_path / "predlog"

    result = invoke(str(row_sum_model), "-i", str(source), "-o", str(output), "-k", "id", "--chunk-rows", "300",
                    "--workers", workers, "--prediction-log", str(log_root),
                    "--prediction-log-project", "churn")  # fmt: skip

    assert result.exit_code == 0, result.output
    record = record_of(output)
    assert record["options"]["prediction_log"] == str(log_root)
    version = content_version(row_sum_model)
    (partition,) = {p.parent.relative_to(log_root) for p in log_root.rglob("*.parquet")}
    assert str(partition).startswith(f"project=churn/endpoint=row-sum/model=row-sum/version={version}/date=")
    log = read_log(log_root)
    assert list(log.columns[: len(BASE_SCHEMA.names)]) == BASE_SCHEMA.names
    assert len(log) == 1_000
    np.testing.assert_array_equal(log["row"], np.arange(1_000))  # the row's position in the input
    assert set(log["request_id"]) == {record["job_id"]}  # the batch job tag
    assert set(log["protocol"]) == {"batch"}
    assert set(log["status"]) == {200}
    assert log["rows"].tolist() == [300] * 900 + [100] * 100  # rows per model call: the chunks
    assert log["error"].isna().all()
    assert log["latency_ms"].isna().all()
    np.testing.assert_array_equal(log["f_x"], data["x"])  # the features as the model saw them
    np.testing.assert_array_equal(log["f_b"], data["b"])
    np.testing.assert_allclose(log["prediction"], expected_row_sum(data))
    assert "f_id" not in log.columns  # keys are not features
    assert (log["project"].unique().tolist(), log["model"].unique().tolist()) == (["churn"], ["row-sum"])


def test_failing_rows_are_logged_with_their_error(invoke: Invoke, tmp_path: Path) -> None:
    model = tmp_path / "non-negative"
    save_model(NonNegative(), model)  # no signature: every column but the keys
    data = frame(40)
    data.loc[13, "x"] = -1
    source = write_parquet(data, tmp_path / "rows.parquet")
    output = tmp_path / "out.parquet"
    log_root = tmp_path / "predlog"

    result = invoke(str(model), "-i", str(source), "-o", str(output), "-k", "id", "--chunk-rows", "20",
                    "--workers", "1", "--skip-errors", "--prediction-log", str(log_root),
                    "--prediction-log-endpoint", "nightly")  # fmt: skip

    assert result.exit_code == 0, result.output
    assert record_of(output)["status"] == "partial"
    log = read_log(log_root)
    assert set(log["endpoint"]) == {"nightly"}
    failed = log[log["status"] != 200]
    assert failed[["row", "rows", "status"]].values.tolist() == [[13, 0, 400]]  # the model rejected its input
    assert "negative x: -1" in failed["error"].iloc[0]
    assert failed["prediction"].isna().all()
    good = log[log["status"] == 200]
    assert good["row"].tolist() == [i for i in range(40) if i != 13]
    np.testing.assert_array_equal(good["prediction"], good["f_x"] * 2.0)


def test_bad_log_options_are_refused_before_the_job(invoke: Invoke, row_sum_model: Path, tmp_path: Path) -> None:
    source = write_parquet(frame(5), tmp_path / "rows.parquet")
    output = tmp_path / "out.parquet"

    log = str(tmp_path / "log")
    result: Any = invoke(str(row_sum_model), "-i", str(source), "-o", str(output),
                         "--prediction-log", log, "--prediction-log-project", "no/slashes")  # fmt: skip

    assert result.exit_code == 2
    assert "--prediction-log-project" in result.stderr
    assert not output.exists()
    assert not (tmp_path / "log").exists()
