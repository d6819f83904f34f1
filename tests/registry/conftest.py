from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.client import Client
from shipyard.models import save_model


@pytest.fixture
def logged(any_client: Client, iris_model, tmp_path: Path) -> str:
    """A runs:/ URI of an sklearn model logged the way shipyard.log_model does."""
    model, frame = iris_model
    run = any_client.create_run(name="train")
    directory = tmp_path / "model"
    save_model(model, directory, input_example=frame.head(3))
    any_client.log_artifacts(run.id, directory, artifact_path="model")
    return f"runs:/{run.id}/model"
