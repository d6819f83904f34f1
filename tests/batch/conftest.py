from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest
from typer.testing import CliRunner, Result

from shipyard.models import save_model
from tests.batch.cli import app
from tests.batch.models import RowSum, frame

REPO = Path(__file__).resolve().parents[2]

Invoke = Callable[..., Result]


@pytest.fixture
def invoke(home: Path) -> Invoke:
    """``shipyard --home <home> predict <args>`` in this process."""
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(app, ["--home", str(home), "predict", *args])

    return run


@pytest.fixture(scope="session")
def row_sum_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pyfunc model with a column signature (x, a, b) that sums them."""
    path = tmp_path_factory.mktemp("models") / "row-sum"
    save_model(RowSum(), path, input_example=frame(3)[["x", "a", "b"]])
    return path


@pytest.fixture(scope="session")
def iris_dir(tmp_path_factory: pytest.TempPathFactory, iris_model: tuple[Any, Any]) -> Path:
    model, features = iris_model
    path = tmp_path_factory.mktemp("models") / "iris"
    save_model(model, path, input_example=features.head(3))
    return path


def write_parquet(data: pd.DataFrame, path: Path, row_group_size: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(data, preserve_index=False), path, row_group_size=row_group_size)
    return path


def record_of(output: Path) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(output.with_name(output.name + ".job.json").read_text())
    return record


@pytest.fixture(scope="session")
def bytecode_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pycache")


def subprocess_env(home: Path, bytecode_cache: Path) -> dict[str, str]:
    """The environment of a `shipyard predict` child: this repo importable (the test
    models are pickled by reference), nothing from the caller's Shipyard settings, and
    compiled bytecode kept in a temporary directory, so that a child (and its workers)
    do not compile every module from source again where PYTHONDONTWRITEBYTECODE is set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_") and k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(REPO)
    env["PYTHONPYCACHEPREFIX"] = str(bytecode_cache)
    env["SHIPYARD_HOME"] = str(home)
    return env
