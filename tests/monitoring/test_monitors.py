"""Monitors end to end, through the SDK (local and HTTP), the CLI and the scheduler, on SQLite
and PostgreSQL: synthetic traffic written by the real prediction-log writer, labels sent as
feedback, the reference taken from the model version's training run or a registered dataset.

The injected window (shifted mean in ``age``, a new category in ``region``, a missing-value
spike in ``tenure``, labels flipped in slice ``segment=C``) must be found exactly: drift in
``age`` and ``region``, quality failures for the unseen region and the missing tenure, the
performance drop of slice C, and nothing else, at the default thresholds.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from typer.testing import CliRunner

from shipyard.cli.main import app
from shipyard.client import Client
from shipyard.client.datasets import describe
from shipyard.errors import AlreadyExists, NotFound
from shipyard.models import save_model
from shipyard.monitoring import service
from shipyard.monitoring.logstore import LogStore
from shipyard.projects import service as projects
from shipyard.settings import Settings
from shipyard.store.engine import Database
from tests.monitoring._predlog import write_log
from tests.monitoring._synthetic import Injection, window

REF, CUR, N = 7, 1007, 600
INJECTED = Injection(shift_age=0.5, new_region_share=0.2, tenure_missing=0.3)


def _register(client: Client, tmp_path: Path, reference: pd.DataFrame) -> int:
    """Model ``churn``, its run having logged ``reference`` as its training dataset."""
    path = tmp_path / "train.parquet"
    reference.to_parquet(path)
    run = client.create_run(name="train")
    client.log_inputs(run.id, [describe(path, name="churn-train", context="training")])
    directory = tmp_path / "model"
    features = reference.drop(columns=["prediction"]).select_dtypes("number")
    save_model(DummyClassifier().fit(features, reference["prediction"]), directory)
    client.log_artifacts(run.id, directory, artifact_path="model")
    return client.register_model(f"runs:/{run.id}/model", "churn").version


def _traffic(settings: Settings, client: Client, injection: Injection | None, *, flip: str | None) -> None:
    """Log the current window as answered a minute ago; send labels (flipped in one slice)."""
    current = window(CUR, N, injection)
    ids = write_log(Path(settings.prediction_log_url), current, ts=time.time() - 60, files=3)
    truth = current["prediction"].to_numpy().copy()
    if flip is not None:
        truth[current["segment"].to_numpy() == flip] ^= 1
    result = client.monitoring.feedback("churn", pd.DataFrame({"request_id": ids, "label": truth}))
    assert (result.accepted, result.unknown) == (N, 0)


def _spec() -> dict[str, Any]:
    return {"window": "last 600", "performance": {"task": "classification", "slices": ["segment"]}}


def test_a_clean_window_is_ok_and_the_injected_one_shows_exactly_what_was_injected(
    any_client: Client, settings: Settings, tmp_path: Path
) -> None:
    version = _register(any_client, tmp_path, window(REF, N))
    monitor = any_client.monitoring.create_monitor("churn-drift", "churn", **_spec())
    assert monitor.spec.reference.kind == "training"
    assert monitor.next_run_at is None

    _traffic(settings, any_client, None, flip=None)
    clean = any_client.monitoring.run_monitor("churn-drift")
    assert clean.status == "ok", clean.message
    assert clean.message == f"vs training data of churn/{version}"
    assert (clean.n_rows, clean.n_labeled, clean.reference_rows) == (N, N, N)
    assert clean.drifted_columns == []
    assert clean.quality_passed is True
    assert clean.dataset_drift is False
    assert {f["column"] for f in clean.features} == {
        "age", "income", "tenure", "score", "region", "plan", "segment", "prediction"
    }  # fmt: skip
    assert clean.performance is not None
    assert clean.performance["metrics"]["accuracy"] == 1.0

    _traffic(settings, any_client, INJECTED, flip="C")
    result = any_client.monitoring.run_monitor("churn-drift")
    assert result.status == "warning", result.message
    assert sorted(result.drifted_columns) == ["age", "region"]
    assert result.drift_share == pytest.approx(2 / 8)
    assert result.dataset_drift is False
    by_column = {f["column"]: f for f in result.features}
    assert by_column["age"]["method"] == "ks"
    assert by_column["region"]["method"] == "chisquare"
    assert result.quality is not None
    assert result.quality_passed is False
    failed = {(c["check"], c["column"]) for c in result.quality["checks"] if not c["passed"]}
    assert failed == {("unseen", "region"), ("missing", "tenure")}
    assert result.performance is not None
    bad = [(c["scope"], c["metric"]) for c in result.performance["checks"] if not c["passed"]]
    assert bad == [("segment=C", "accuracy")]
    slices = {s["value"]: s["metrics"]["accuracy"] for s in result.performance["slices"]}
    assert slices == {"A": 1.0, "B": 1.0, "C": 0.0}

    history = any_client.monitoring.monitor_results("churn-drift")
    assert [r.status for r in history.items] == ["warning", "ok"]  # newest first
    assert any_client.monitoring.get_monitor("churn-drift").last_status == "warning"


def test_dataset_reference_duration_window_and_errors(any_client: Client, settings: Settings, tmp_path: Path) -> None:
    reference = window(REF, N)
    path = tmp_path / "reference.csv"
    reference.to_csv(path, index=False)
    run = any_client.create_run(name="data")
    any_client.log_inputs(run.id, [describe(path, name="golden", context="reference")])
    any_client.monitoring.create_monitor(
        "by-dataset",
        "churn",
        window="1h",
        reference={"kind": "dataset", "dataset": "golden"},
        columns=["age", "region"],
        schedule="*/5 * * * *",
    )
    empty = any_client.monitoring.run_monitor("by-dataset")
    assert empty.status == "no_data"
    assert empty.n_rows == 0

    write_log(Path(settings.prediction_log_url), window(CUR, N, Injection(shift_age=0.5)), ts=time.time() - 120)
    write_log(Path(settings.prediction_log_url), window(3, 50), ts=time.time() - 7200, prefix="old-")  # outside 1h
    result = any_client.monitoring.run_monitor("by-dataset")
    assert (result.n_rows, result.drifted_columns) == (N, ["age"]), result.message
    assert result.message.startswith("vs dataset golden@")

    with pytest.raises(AlreadyExists):
        any_client.monitoring.create_monitor("by-dataset", "churn")
    any_client.monitoring.create_monitor("no-model", "churn", window="1h")  # training data of a model never registered
    failed = any_client.monitoring.run_monitor("no-model")
    assert failed.status == "error"
    assert "churn" in failed.message
    any_client.monitoring.delete_monitor("no-model")
    with pytest.raises(NotFound):
        any_client.monitoring.get_monitor("no-model")
    assert [m.name for m in any_client.monitoring.iter_monitors()] == ["by-dataset"]


def test_run_due_follows_the_cron_schedule(client: Client, settings: Settings) -> None:
    write_log(Path(settings.prediction_log_url), window(CUR, 100), ts=time.time() - 60)
    client.monitoring.create_monitor(
        "hourly", "churn", window="24h", schedule="0 * * * *", reference={"kind": "dataset", "dataset": "x"}
    )
    client.monitoring.create_monitor("manual", "churn", window="24h")
    due_at = client.monitoring.get_monitor("hourly").next_run_at
    assert due_at is not None
    assert due_at.minute == 0
    assert due_at > datetime.now(UTC)
    assert client.monitoring.run_due() == []  # not due yet

    db = Database(settings.database_url)
    try:
        with db.session() as session:
            project = projects.get_by_name(session, "default")
            done = service.run_due(session, due_at + timedelta(seconds=1), LogStore.from_settings(settings))
            assert [(m.name, r.trigger) for m, r in done] == [("hourly", "schedule")]
            assert done[0][1].status == "error"  # its dataset "x" does not exist: recorded, not lost
            assert service.get(session, project, "hourly").next_run_at == due_at + timedelta(hours=1)
            again = service.run_due(session, due_at + timedelta(seconds=2), LogStore.from_settings(settings))
            assert again == []
    finally:
        db.dispose()


def test_monitors_through_the_cli(cli_args: list[str], runner: CliRunner, settings: Settings, tmp_path: Path) -> None:
    with Client(settings=settings) as client:
        _register(client, tmp_path, window(REF, N))
    current = window(CUR, N, Injection(new_region_share=0.2))
    ids = write_log(Path(settings.prediction_log_url), current, ts=time.time() - 60)
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"rid": [*ids[:10], "nobody"], "y": np.r_[current["prediction"][:10], 1]}).to_csv(labels, index=False)

    def cli(*args: str) -> str:
        result = runner.invoke(app, [*cli_args, "monitor", *args])
        assert result.exit_code == 0, result.output
        return result.output

    fed = json.loads(cli("feedback", "churn", "--file", str(labels), "--id-column", "rid", "--by", "request_id",
                         "--label-column", "y", "--json"))  # fmt: skip
    assert fed == {"accepted": 11, "duplicates": 0, "unknown": 1, "unknown_ids_sample": ["nobody"]}
    cli("create", "m1", "--endpoint", "churn", "--window", "24h", "--performance", "classification")
    assert "m1" in cli("list")
    output = cli("run", "m1")
    assert "warning" in output
    assert "region" in output
    results = json.loads(cli("results", "m1", "--json"))["results"]
    assert [(r["status"], r["drifted_columns"], r["n_labeled"]) for r in results] == [("warning", ["region"], 10)]
    assert "no monitor due" in cli("run-due")
    bad = runner.invoke(app, [*cli_args, "monitor", "create", "m2", "--endpoint", "churn", "--window", "fortnight"])
    assert bad.exit_code != 0
    assert "window 'fortnight'" in bad.output


def test_performance_is_compared_with_the_offline_evaluation(
    client: Client, settings: Settings, tmp_path: Path
) -> None:
    from shipyard.evaluation.schemas import Estimate, EvaluationResult, ModelRef, SliceResult
    from shipyard.events.context import Actor
    from shipyard.gates import service as gates

    version = _register(client, tmp_path, window(REF, N))
    offline = EvaluationResult(
        model_type="classifier",
        model=ModelRef(uri=f"models:/churn/{version}", name="churn", version=version),
        target="prediction",
        bootstrap=0,
        seed=0,
        confidence=0.95,
        overall=SliceResult(n=N, metrics={"accuracy": Estimate(value=0.95), "f1": Estimate(value=0.94)}),
    )
    db = Database(settings.database_url)
    try:
        with db.session() as session:
            project = projects.get_by_name(session, "default")
            evaluation = gates.record_evaluation(session, Actor("tests"), project, "churn", version, offline)
    finally:
        db.dispose()
    client.monitoring.create_monitor(
        "vs-offline", "churn", window="last 600", performance={"task": "classification", "max_drop_from_offline": 0.1}
    )
    _traffic(settings, client, None, flip="C")  # a third of the labels flipped: accuracy about 2/3
    result = client.monitoring.run_monitor("vs-offline")
    assert result.performance is not None
    comparison = result.performance["offline"]
    assert (comparison["model"], comparison["version"], comparison["evaluation"]) == ("churn", version, evaluation.id)
    accuracy = result.performance["metrics"]["accuracy"]
    assert comparison["delta"]["accuracy"] == pytest.approx(accuracy - 0.95)
    [check] = [c for c in result.performance["checks"] if c["rule"] == "offline"]
    assert (check["passed"], check["threshold"]) == (False, pytest.approx(0.85))
    assert result.status == "warning"
