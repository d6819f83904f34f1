"""`shipyard predict models:/name@alias`: the alias resolved once, the version downloaded
(verified, cached) and recorded, from a local-mode registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq  # type: ignore[import-untyped]
from typer.testing import CliRunner

from shipyard.client import Client
from shipyard.models import save_model
from shipyard.settings import Settings
from tests.batch.cli import app
from tests.batch.conftest import record_of, write_parquet


def test_predict_with_a_registered_alias(
    client: Client, settings: Settings, iris_model: tuple[Any, Any], tmp_path: Path, cli_args: list[str]
) -> None:
    model, features = iris_model
    run = client.create_run(name="train")
    directory = tmp_path / "model"
    save_model(model, directory, input_example=features.head(3))
    client.log_artifacts(run.id, directory, artifact_path="model")
    client.register_model(f"runs:/{run.id}/model", "iris")  # version 1
    client.register_model(f"runs:/{run.id}/model", "iris")  # version 2: the same files
    client.set_alias("iris", "prod", 2)
    source = write_parquet(features, tmp_path / "iris.parquet")
    output = tmp_path / "scores.parquet"

    result = CliRunner().invoke(
        app, [*cli_args, "predict", "models:/iris@prod", "-i", str(source), "-o", str(output), "--workers", "1"]
    )

    assert result.exit_code == 0, result.output
    record = record_of(output)
    version = client.get_model_version("iris", 2)
    assert record["model"] == {
        "uri": "models:/iris@prod",
        "resolved_uri": "models:/iris/2",
        "name": "iris",
        "version": 2,
        "run_id": run.id,
        "path": str(settings.home / "cache" / "models" / str(version.manifest_digest)),
        "flavor": "sklearn",
        "manifest_sha256": version.manifest_digest,
    }
    np.testing.assert_array_equal(pq.read_table(output).column("prediction").to_numpy(), model.predict(features))

    by_run = tmp_path / "by-run.parquet"
    result = CliRunner().invoke(
        app, [*cli_args, "predict", f"runs:/{run.id}/model", "-i", str(source), "-o", str(by_run), "--workers", "1"]
    )
    assert result.exit_code == 0, result.output
    assert record_of(by_run)["model"]["run_id"] == run.id
    assert record_of(by_run)["model"]["version"] is None

    missing = CliRunner().invoke(app, [*cli_args, "predict", "models:/iris@nope", "-i", str(source), "-o", str(output)])
    assert missing.exit_code == 3
    assert missing.stderr.startswith("error: ")
