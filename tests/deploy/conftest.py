from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shipyard.client import Client
from shipyard.models import save_model


@pytest.fixture
def iris_versions(any_client: Client, iris_model: tuple[Any, Any], tmp_path: Path) -> Client:
    """``iris`` versions 1, 2 and 3 (one logged model registered three times)."""
    model, frame = iris_model
    run = any_client.create_run(name="train")
    directory = tmp_path / "model"
    save_model(model, directory, input_example=frame.head(3))
    any_client.log_artifacts(run.id, directory, artifact_path="model")
    for _ in range(3):
        any_client.register_model(f"runs:/{run.id}/model", "iris")
    return any_client
