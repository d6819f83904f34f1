"""The model registry through the SDK (local mode and HTTP) on both databases."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from shipyard.client import Client
from shipyard.errors import AlreadyExists, Conflict, DigestMismatch, InvalidArgument, NotFound
from shipyard.models import load_model, save_model


def test_register_and_load_by_every_uri(any_client: Client, logged: str, iris_model, tmp_path: Path) -> None:
    model, frame = iris_model
    v1 = any_client.register_model(logged, "iris", description="first")
    assert (v1.version, v1.status, v1.flavor) == (1, "READY", "sklearn")
    assert v1.run_id == logged.split("/")[1]
    assert v1.signature is not None
    assert [c["name"] for c in v1.signature["inputs"]][:1] == ["sepal length (cm)"]
    assert v1.input_example is not None
    assert {f.path for f in v1.files} >= {"shipyard-model.json", "model.skops"}
    v2 = any_client.register_model(logged, "iris")
    assert v2.version == 2
    any_client.set_alias("iris", "staging", 1)
    expected = model.predict(frame)
    for uri in ("models:/iris@staging", "models:/iris/2", "models:/iris/latest", logged):
        path = any_client.download_model(uri, tmp_path / uri.replace(":", "_").replace("/", "_").replace("@", "_"))
        assert np.array_equal(load_model(path).predict(frame), expected), uri
    assert any_client.resolve_model("models:/iris@staging").version == 1
    assert any_client.resolve_model("models:/iris/latest").version == 2
    registered = any_client.get_registered_model("iris")
    assert registered.latest_version == 2
    assert registered.aliases == {"staging": 1}
    with pytest.raises(NotFound, match="no alias @prod"):
        any_client.resolve_model("models:/iris@prod")
    with pytest.raises(InvalidArgument, match="not a model URI"):
        any_client.resolve_model("s3://bucket/model")


def test_alias_moves_are_atomic_and_kept(any_client: Client, logged: str) -> None:
    for _ in range(3):
        any_client.register_model(logged, "churn")
    any_client.set_alias("churn", "production", 1)
    any_client.set_alias("churn", "production", 3)
    any_client.set_alias("churn", "production", 3)  # no-op: no history row
    any_client.set_alias("churn", "staging", 2)
    any_client.delete_alias("churn", "staging")
    history = any_client.alias_history("churn")
    moves = [(c.alias, c.from_version, c.to_version) for c in history]
    assert moves == [("production", None, 1), ("production", 1, 3), ("staging", None, 2), ("staging", 2, None)]
    assert all(c.actor for c in history)
    assert [c.to_version for c in any_client.alias_history("churn", alias="production")] == [1, 3]
    assert any_client.get_version_by_alias("churn", "production").aliases == ["production"]
    for reserved in ("latest", "v3", "V10"):
        with pytest.raises(InvalidArgument, match="reserved"):
            any_client.set_alias("churn", reserved, 1)
    with pytest.raises(NotFound):
        any_client.set_alias("churn", "x", 99)
    events = [e.action for e in any_client.list_events(object_type="registered_model", object_id="churn").items]
    assert events.count("model_alias.set") == 3
    assert events.count("model_alias.delete") == 1


def test_nothing_in_use_can_be_deleted(any_client: Client, logged: str) -> None:
    any_client.register_model(logged, "fraud")
    any_client.register_model(logged, "fraud")
    any_client.set_alias("fraud", "production", 2)
    with pytest.raises(Conflict, match="@production"):
        any_client.delete_model_version("fraud", 2)
    with pytest.raises(Conflict, match="@production"):
        any_client.delete_registered_model("fraud")
    deleted = any_client.delete_model_version("fraud", 1)
    assert deleted.deleted_at is not None
    with pytest.raises(NotFound):
        any_client.get_model_version("fraud", 1)
    assert [v.version for v in any_client.list_model_versions("fraud").items] == [2]
    assert any_client.restore_model_version("fraud", 1).deleted_at is None
    any_client.delete_alias("fraud", "production")
    assert any_client.delete_registered_model("fraud").deleted_at is not None
    with pytest.raises(NotFound):
        any_client.get_registered_model("fraud")
    assert "fraud" in [m.name for m in any_client.iter_registered_models(view="deleted")]
    with pytest.raises(AlreadyExists, match="restore it"):
        any_client.create_registered_model("fraud")
    assert any_client.restore_registered_model("fraud").deleted_at is None
    archived = any_client.archive_registered_model("fraud")
    assert archived.archived_at is not None
    assert "fraud" not in [m.name for m in any_client.iter_registered_models()]
    assert "fraud" in [m.name for m in any_client.iter_registered_models(view="archived")]


def test_aliases_only_on_ready_versions(any_client: Client, iris_model, tmp_path: Path) -> None:
    model, _frame = iris_model
    run = any_client.create_run()
    directory = tmp_path / "m"
    save_model(model, directory)
    (directory / "model.skops").write_bytes(b"tampered after packaging")
    any_client.log_artifacts(run.id, directory, artifact_path="model")
    failed = any_client.register_model(f"runs:/{run.id}/model", "broken")
    assert failed.status == "FAILED_REGISTRATION"
    assert "model.skops" in failed.status_message
    with pytest.raises(Conflict, match="FAILED_REGISTRATION"):
        any_client.set_alias("broken", "staging", failed.version)
    with pytest.raises(NotFound):
        any_client.resolve_model("models:/broken/latest")  # no READY version


def test_registration_needs_a_logged_model(any_client: Client, tmp_path: Path) -> None:
    run = any_client.create_run()
    (tmp_path / "notes.txt").write_text("not a model")
    any_client.log_artifact(run.id, tmp_path / "notes.txt", artifact_path="stuff")
    version = any_client.register_model(f"runs:/{run.id}/stuff", "nomodel")
    assert version.status == "FAILED_REGISTRATION"
    assert "shipyard-model.json" in version.status_message
    with pytest.raises(NotFound, match="no artifact at 'missing'"):
        any_client.register_model(f"runs:/{run.id}/missing", "nomodel")
    with pytest.raises(InvalidArgument, match="runs:/"):
        any_client.register_model("models:/nomodel/1", "nomodel")


def test_concurrent_registration_is_gapless(any_client: Client, logged: str) -> None:
    any_client.create_registered_model("race")
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: any_client.register_model(logged, "race").version, range(32)))
    assert sorted(results) == list(range(1, 33))
    listed: list[int] = []
    token = None
    while True:
        page = any_client.list_model_versions("race", max_results=10, page_token=token)
        listed.extend(v.version for v in page.items)
        token = page.next_page_token
        if not token:
            break
    assert listed == list(range(32, 0, -1))


def test_tampered_blob_is_refused_on_load(client: Client, logged: str, settings, tmp_path: Path) -> None:
    version = client.register_model(logged, "tamper")
    weights = next(f for f in version.files if f.path == "model.skops")
    if not settings.artifacts_url.startswith("/"):
        pytest.fail("this test corrupts the local blob store")
    blob = Path(settings.artifacts_url) / "sha256" / weights.digest[:2] / weights.digest[2:4] / weights.digest
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(DigestMismatch) as info:
        client.download_model("models:/tamper/1", tmp_path / "dl")
    assert weights.digest in info.value.message


def test_model_tags_and_descriptions(any_client: Client, logged: str) -> None:
    model = any_client.create_registered_model("tagged", description="d", tags={"team": "risk"})
    assert model.tags == {"team": "risk"}
    any_client.set_registered_model_tag("tagged", "tier", "1")
    assert any_client.get_registered_model("tagged").tags == {"team": "risk", "tier": "1"}
    assert any_client.update_registered_model("tagged", description="new").description == "new"
    any_client.register_model(logged, "tagged")
    assert any_client.update_model_version("tagged", 1, description="v1 notes").description == "v1 notes"


def test_download_never_clobbers_a_directory(any_client: Client, logged: str, tmp_path: Path) -> None:
    any_client.register_model(logged, "safe")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("precious")
    with pytest.raises(AlreadyExists, match="not an empty directory"):
        any_client.download_model("models:/safe/1", busy)
    assert (busy / "keep.txt").read_text() == "precious"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (any_client.download_model("models:/safe/1", empty) / "shipyard-model.json").is_file()


def test_alias_names_and_latest_rules(any_client: Client, logged: str) -> None:
    any_client.register_model(logged, "rules")
    any_client.register_model(logged, "rules")
    for bad in ("we ird", "ok.dot", "-lead", "x" * 256):
        with pytest.raises(InvalidArgument, match="letters, digits"):
            any_client.set_alias("rules", bad, 1)
    assert any_client.resolve_model("models:/rules/latest").version == 2
    any_client.archive_model_version("rules", 2)
    assert any_client.resolve_model("models:/rules/latest").version == 1  # archived is not "latest"
