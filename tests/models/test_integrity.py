"""Tamper detection: every file is checked against the manifest's sha256 and size."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from shipyard.artifacts.digests import file_digest
from shipyard.errors import AlreadyExists, DigestMismatch, NotFound, PreconditionFailed, ValidationFailed
from shipyard.models import MANIFEST_FILE, load_model, read_manifest, save_model, verify_model
from tests.models.conftest import Dataset


@pytest.fixture
def model_dir(tmp_path: Path, iris: Dataset, iris_pipeline) -> Path:
    save_model(iris_pipeline, tmp_path / "m", input_example=iris.X.head(3))
    return tmp_path / "m"


def _flip_a_byte(path: Path, at: int = 100) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def test_files_are_listed_with_digest_and_size(model_dir: Path) -> None:
    manifest = read_manifest(model_dir)

    assert [f.path for f in manifest.files] == ["input_example.json", "model.skops"]
    for entry in manifest.files:
        assert (entry.sha256, entry.size) == file_digest(model_dir / entry.path)
    assert verify_model(model_dir) == manifest


def test_a_changed_byte_is_a_digest_mismatch_naming_the_file(model_dir: Path) -> None:
    expected = read_manifest(model_dir).file("model.skops")
    assert expected is not None
    _flip_a_byte(model_dir / "model.skops")

    with pytest.raises(DigestMismatch, match=re.escape("model file 'model.skops'")) as caught:
        load_model(model_dir)

    assert caught.value.details["path"] == "model.skops"
    assert caught.value.expected == expected.sha256
    assert caught.value.actual == file_digest(model_dir / "model.skops")[0]


def test_a_truncated_file_is_a_digest_mismatch(model_dir: Path) -> None:
    (model_dir / "input_example.json").write_text("{}")

    with pytest.raises(DigestMismatch, match=re.escape("input_example.json")) as caught:
        verify_model(model_dir)

    assert caught.value.details["actual_size"] == 2


def test_an_extra_file_is_refused(model_dir: Path) -> None:
    (model_dir / "sub").mkdir()
    (model_dir / "sub" / "notes.txt").write_text("hello")

    with pytest.raises(
        ValidationFailed, match=re.escape("'sub/notes.txt' is in the model directory but not in its manifest")
    ):
        load_model(model_dir)


def test_a_missing_file_is_refused(model_dir: Path) -> None:
    (model_dir / "input_example.json").unlink()

    with pytest.raises(
        ValidationFailed, match=re.escape("'input_example.json' is listed in the manifest but missing")
    ) as caught:
        load_model(model_dir)

    assert caught.value.details["problem"] == "missing"


def test_verify_false_skips_the_checks(model_dir: Path, iris: Dataset) -> None:
    (model_dir / "extra.txt").write_text("tolerated")

    assert load_model(model_dir, verify=False).predict(iris.X).shape == (150,)


def test_symlinks_are_refused(model_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "outside.txt").write_text("secret")
    os.symlink(tmp_path / "outside.txt", model_dir / "link.txt")

    with pytest.raises(ValidationFailed, match="symlinks"):
        verify_model(model_dir)


def test_a_corrupt_manifest_is_a_validation_failure(model_dir: Path) -> None:
    (model_dir / MANIFEST_FILE).write_text("{not json")

    with pytest.raises(ValidationFailed, match="not valid JSON"):
        load_model(model_dir)


def test_a_manifest_cannot_call_a_pickle_safe(tmp_path: Path, model_dir: Path) -> None:
    doc = json.loads((model_dir / MANIFEST_FILE).read_text())
    doc.update(serialization="pickle", unsafe=False)
    (model_dir / MANIFEST_FILE).write_text(json.dumps(doc))

    with pytest.raises(ValidationFailed, match="unsafe"):
        load_model(model_dir)


def test_manifest_paths_must_stay_inside_the_directory(model_dir: Path) -> None:
    doc = json.loads((model_dir / MANIFEST_FILE).read_text())
    doc["files"][0]["path"] = "../../etc/passwd"
    (model_dir / MANIFEST_FILE).write_text(json.dumps(doc))

    with pytest.raises(ValidationFailed, match="not a relative path inside the model directory"):
        read_manifest(model_dir)


def test_a_newer_manifest_format_asks_for_an_upgrade(model_dir: Path) -> None:
    doc = json.loads((model_dir / MANIFEST_FILE).read_text())
    doc["format_version"] = 2
    (model_dir / MANIFEST_FILE).write_text(json.dumps(doc))

    with pytest.raises(PreconditionFailed, match="upgrade Shipyard"):
        load_model(model_dir)


def test_saving_over_a_model_is_refused(model_dir: Path, iris_pipeline) -> None:
    with pytest.raises(AlreadyExists):
        save_model(iris_pipeline, model_dir)


def test_saving_into_an_empty_directory_is_fine(tmp_path: Path, iris_pipeline) -> None:
    (tmp_path / "empty").mkdir()

    save_model(iris_pipeline, tmp_path / "empty")

    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]  # no staging directory left


def test_loading_nothing(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no model directory"):
        load_model(tmp_path / "absent")
    with pytest.raises(NotFound, match="neither"):
        load_model(tmp_path)
