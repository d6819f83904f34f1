"""What the manifest records besides files: requirements, Python, time, metadata."""

from __future__ import annotations

import platform
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path

import pytest

import shipyard.models
from shipyard.errors import InvalidArgument
from shipyard.models import load_model, save_model
from shipyard.models.requirements import resolve_requirements


def test_requirements_are_pinned_to_installed_versions(tmp_path: Path, iris_pipeline) -> None:
    manifest = save_model(iris_pipeline, tmp_path / "m", requirements=["pandas", "requests>=2"])

    assert manifest.requirements == [
        f"numpy=={version('numpy')}",
        f"pandas=={version('pandas')}",
        "requests>=2",
        f"scikit-learn=={version('scikit-learn')}",
        f"scipy=={version('scipy')}",
        f"skops=={version('skops')}",
    ]


def test_caller_requirements_override_the_flavor_pins() -> None:
    assert resolve_requirements(["numpy"], ["NumPy<3", "not-installed-pkg-xyz"]) == [
        "not-installed-pkg-xyz",
        "NumPy<3",
    ]


@pytest.mark.parametrize(
    "line",
    ["--index-url https://example.invalid/simple", "pkg @ https://example.invalid/pkg.whl", "./local/path", "a\nb"],
)
def test_requirements_that_are_not_plain_specifiers_are_refused(line: str) -> None:
    with pytest.raises(InvalidArgument, match="options, URLs and paths are refused"):
        resolve_requirements([], [line])


def test_python_version_time_and_metadata(tmp_path: Path, iris_pipeline) -> None:
    before = datetime.now(UTC)
    manifest = save_model(iris_pipeline, tmp_path / "m", metadata={"team": "risk", "tags": ["a"]})

    assert manifest.python_version == platform.python_version()
    assert manifest.created_at.tzinfo == UTC
    assert before - timedelta(seconds=1) <= manifest.created_at <= datetime.now(UTC)
    assert load_model(tmp_path / "m").manifest == manifest
    assert manifest.to_json().count('"created_at": "') == 1
    assert manifest.metadata == {"team": "risk", "tags": ["a"]}


def test_metadata_must_be_json(tmp_path: Path, iris_pipeline) -> None:
    with pytest.raises(InvalidArgument, match="metadata must be JSON-serialisable"):
        save_model(iris_pipeline, tmp_path / "m", metadata={"when": datetime.now(UTC)})


def test_public_surface_is_complete() -> None:
    public = {name for name in dir(shipyard.models) if not name.startswith("_")}
    submodules = {
        "examples",
        "files",
        "flavors",
        "loaded",
        "manifest",
        "mlflow_format",
        "pickling",
        "requirements",
        "service",
        "signature",
        "validation",
    }
    assert set(shipyard.models.__all__) == public - submodules
    for name in shipyard.models.__all__:
        assert getattr(shipyard.models, name) is not None


def test_importing_the_package_loads_no_model_library() -> None:
    heavy = ["numpy", "pandas", "sklearn", "skops", "xgboost", "lightgbm", "onnx", "onnxruntime", "cloudpickle", "yaml"]
    code = f"import sys, shipyard.models; print([m for m in {heavy!r} if m in sys.modules])"

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)

    assert result.stdout.strip() == "[]"
