"""The fluent API (``import shipyard as sy``) end to end, plus its metric buffer."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

import shipyard as sy
from shipyard import fluent, sdk
from shipyard.client import Client
from shipyard.client.buffer import MetricBuffer
from shipyard.client.source import capture
from shipyard.errors import InvalidArgument, Unavailable, ValidationFailed
from shipyard.settings import Settings


@pytest.fixture
def fluent_client(settings: Settings) -> Iterator[Client]:
    fluent._reset_for_tests()
    sdk._close()
    client = Client(settings=settings)
    sdk._client = client
    yield client
    fluent._reset_for_tests()
    sdk._close()


def test_train_log_register_load_by_alias(fluent_client: Client, iris_model) -> None:
    model, frame = iris_model
    sy.set_experiment("iris")
    with sy.start_run(name="baseline") as run:
        sy.log_params({"C": 1.0, "max_iter": 300})
        sy.set_tag("stage", "dev")
        for step in range(100):
            sy.log_metric("loss", 1.0 / (step + 1), step=step)
        sy.log_metrics({"acc": 0.97, "f1": 0.96})
        sy.log_input(frame, name="iris", context="training")
        logged = sy.log_model(model, "model", input_example=frame.head(2), registered_model_name="iris-clf")
    assert logged.uri == f"runs:/{run.id}/model"
    assert logged.version is not None
    assert logged.version.version == 1
    sy.set_alias("iris-clf", "staging", 1)
    loaded = sy.load_model("models:/iris-clf@staging")
    assert np.array_equal(loaded.predict(frame), model.predict(frame))
    assert np.array_equal(sy.load_model(logged.uri).predict(frame), model.predict(frame))
    stored = fluent_client.get_run(run.id)
    assert stored.status == "FINISHED"
    assert stored.params == {"C": "1.0", "max_iter": "300"}
    assert stored.metrics["loss"].step == 99
    assert fluent_client.get_metric_history(run.id, "loss").total_points == 100
    assert stored.inputs[0].dataset.row_count == 150
    assert stored.inputs[0].dataset.profile is not None
    assert stored.source["python_version"].count(".") == 2
    files = [a.path for a in fluent_client.iter_artifacts(run.id)]
    assert "environment/requirements.txt" in files
    assert "model/shipyard-model.json" in files


def test_failed_block_marks_run_failed_and_nesting(fluent_client: Client) -> None:
    with pytest.raises(RuntimeError), sy.start_run(name="boom") as run:
        raise RuntimeError("training diverged")
    assert fluent_client.get_run(run.id).status == "FAILED"
    with sy.start_run(name="parent", capture_source=False) as parent:
        with pytest.raises(InvalidArgument, match="nested=True"):
            sy.start_run()
        with sy.start_run(name="child", nested=True, capture_source=False) as child:
            assert sy.active_run() is child
        assert sy.active_run() is parent
    assert fluent_client.get_run(child.id).parent_run_id == parent.id
    with pytest.raises(InvalidArgument, match="no active run"):
        sy.log_metric("x", 1.0)


def test_flush_error_is_surfaced(fluent_client: Client) -> None:
    sy.start_run(capture_source=False)
    sy.log_metric("ok", 1.0)
    sy.log_metric("bad key!", 1.0)  # refused by the server when the batch is sent
    with pytest.raises(ValidationFailed, match="key"):
        sy.flush()
    sy.end_run()


def test_points_are_flushed_at_interpreter_exit(settings: Settings, tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        "import shipyard as sy\n"
        "from shipyard import sdk\n"
        "from shipyard.client import Client\n"
        "from shipyard.settings import load_settings\n"
        f"sdk._client = Client(settings=load_settings({{'home': {str(settings.home)!r}, "
        f"'database.url': {settings.database_url!r}}}).settings)\n"
        "run = sy.start_run(capture_source=False)\n"
        "print(run.id, flush=True)\n"
        "for i in range(25_000):\n"
        "    sy.log_metric('m', float(i), step=i)\n"
        # no end_run: the atexit hook must flush and finish the run
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()
    with Client(settings=settings) as client:
        assert client.get_metric_history(run_id, "m", max_points=25_000).total_points == 25_000
        assert client.get_run(run_id).status == "FINISHED"


class _Recorder:
    def __init__(self, fail_with: Exception | None = None, delay_s: float = 0.0) -> None:
        self.batches: list[tuple[str, int]] = []
        self.fail_with = fail_with
        self.delay_s = delay_s
        self.lock = threading.Lock()

    def __call__(self, run_id: str, points: Sequence[tuple[str, float, int, int]]) -> None:
        time.sleep(self.delay_s)
        if self.fail_with is not None:
            error, self.fail_with = self.fail_with, None
            raise error
        with self.lock:
            self.batches.append((run_id, len(points)))


def test_buffer_batches_and_bounds_memory() -> None:
    sender = _Recorder(delay_s=0.01)
    buffer = MetricBuffer(sender, batch_size=100, interval_s=0.05, max_buffered=250)
    peak = 0
    for i in range(2_000):
        buffer.add("r1", "m", float(i), i)
        peak = max(peak, buffer.pending)
    buffer.flush(timeout_s=30)
    assert sum(n for _, n in sender.batches) == 2_000
    assert max(n for _, n in sender.batches) <= 100
    assert peak <= 250 + 100  # queued + one batch in flight
    buffer.close()


def test_buffer_keeps_points_when_the_server_is_unreachable() -> None:
    sender = _Recorder(fail_with=Unavailable("server down"))
    buffer = MetricBuffer(sender, batch_size=10, interval_s=0.01)
    for i in range(25):
        buffer.add("r1", "m", float(i), i)
    with pytest.raises(Unavailable):
        buffer.flush(timeout_s=10)
    buffer.flush(timeout_s=10)  # the retry sends everything, nothing was lost
    assert sum(n for _, n in sender.batches) == 25
    buffer.close()


def test_buffer_batches_never_mix_runs() -> None:
    sender = _Recorder()
    buffer = MetricBuffer(sender, batch_size=1000, interval_s=0.01)
    for i in range(30):
        buffer.add("a" if i % 2 else "b", "m", 1.0, i)
    buffer.flush(timeout_s=10)
    assert {run for run, _ in sender.batches} == {"a", "b"}
    assert sum(n for _, n in sender.batches) == 30
    buffer.close()


def test_source_capture_in_a_git_repository(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "train.py").write_text("print('hi')\n")
    subprocess.run([*git, "-C", str(repo), "add", "."], check=True)
    subprocess.run([*git, "-C", str(repo), "commit", "-qm", "init"], check=True)
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    clean, packages = capture(entry_point=str(repo / "train.py"), cwd=repo)
    assert clean.git_commit == head.stdout.strip()
    assert clean.git_dirty is False
    assert clean.git_diff_sha256 is None
    assert clean.entry_point == "train.py"
    assert b"pydantic==" in packages
    assert clean.packages_count == packages.count(b"\n")
    (repo / "train.py").write_text("print('changed')\n")
    dirty, _ = capture(entry_point=str(repo / "train.py"), cwd=repo)
    assert dirty.git_dirty is True
    assert dirty.git_diff_sha256 is not None
    outside, _ = capture(cwd=tmp_path)
    assert outside.git_commit is None


def test_run_ends_even_when_its_last_flush_fails(fluent_client: Client) -> None:
    run = sy.start_run(name="bad-key", capture_source=False)
    sy.log_metric("loss?", 0.5)
    with pytest.raises(ValidationFailed):
        sy.end_run()
    assert fluent_client.get_run(run.id).status == "FAILED"
    assert sy.active_run() is None


def test_a_damaged_cache_entry_is_fetched_again(fluent_client: Client, iris_model) -> None:
    model, frame = iris_model
    with sy.start_run(capture_source=False):
        sy.log_model(model, "model", registered_model_name="cached")
    path = fluent_client.download_model("models:/cached/1")
    weights = path / "model.skops"
    weights.write_bytes(weights.read_bytes() + b"x")
    loaded = sy.load_model("models:/cached/1")
    assert np.array_equal(loaded.predict(frame), model.predict(frame))
