"""Experiments, runs and logging through the SDK, in local mode and over HTTP, on both
databases."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from shipyard.client import Client
from shipyard.errors import AlreadyExists, Conflict, InvalidArgument, NotFound, ValidationFailed


def test_experiment_lifecycle(any_client: Client) -> None:
    exp = any_client.create_experiment("churn", description="churn models", tags={"team": "growth"})
    assert exp.tags == {"team": "growth"}
    assert exp.lifecycle_stage == "active"
    assert any_client.get_experiment_by_name("churn").id == exp.id
    with pytest.raises(AlreadyExists, match="churn"):
        any_client.create_experiment("churn")
    renamed = any_client.update_experiment(exp.id, name="churn-v2")
    assert renamed.name == "churn-v2"
    any_client.set_experiment_tag(exp.id, "owner", "ana")
    assert any_client.get_experiment(exp.id).tags == {"team": "growth", "owner": "ana"}
    any_client.delete_experiment_tag(exp.id, "team")
    with pytest.raises(NotFound):
        any_client.delete_experiment_tag(exp.id, "team")
    archived = any_client.archive_experiment(exp.id)
    assert archived.lifecycle_stage == "archived"
    assert exp.id not in [e.id for e in any_client.iter_experiments()]
    assert exp.id in [e.id for e in any_client.iter_experiments(view="archived")]
    with pytest.raises(Conflict, match="archived"):
        any_client.create_run(exp.id)
    any_client.restore_experiment(exp.id)
    assert any_client.create_run(exp.id).experiment_id == exp.id
    with pytest.raises(NotFound):
        any_client.get_experiment(99999)


def test_run_lifecycle_and_default_experiment(any_client: Client) -> None:
    run = any_client.create_run(name="first", user_id="ana", tags={"k": "v"})
    default = any_client.get_experiment_by_name("Default")
    assert run.experiment_id == default.id
    assert run.status == "RUNNING"
    assert run.end_time is None
    assert run.tags == {"k": "v"}
    child = any_client.create_run(name="child", parent_run_id=run.id)
    assert child.parent_run_id == run.id
    done = any_client.update_run(run.id, status="FINISHED")
    assert done.status == "FINISHED"
    assert done.end_time is not None
    assert done.end_time >= done.start_time
    assert any_client.delete_run(run.id).lifecycle_stage == "deleted"
    with pytest.raises(Conflict, match="deleted"):
        any_client.log_param(run.id, "a", 1)
    any_client.restore_run(run.id)
    any_client.log_param(run.id, "a", 1)
    with pytest.raises(NotFound):
        any_client.get_run("0" * 32)
    with pytest.raises(ValidationFailed, match="status"):
        any_client.update_run(run.id, status="EXPLODED")


def test_params_are_immutable(any_client: Client) -> None:
    run = any_client.create_run()
    any_client.log_batch(run.id, params={"lr": "0.01", "depth": 3})
    any_client.log_param(run.id, "lr", "0.01")  # same value: fine
    with pytest.raises(Conflict) as info:
        any_client.log_param(run.id, "lr", "0.02")
    assert info.value.status == 409
    assert "lr" in info.value.message
    assert "0.01" in info.value.message
    assert "0.02" in info.value.message
    assert info.value.details == {"key": "lr", "existing": "0.01", "new": "0.02", "run_id": run.id}
    assert any_client.get_run(run.id).params == {"lr": "0.01", "depth": "3"}


def test_nan_and_infinities_round_trip(any_client: Client) -> None:
    run = any_client.create_run()
    any_client.log_batch(
        run.id,
        metrics=[("a", math.nan, 0, None), ("b", math.inf, 0, None), ("c", -math.inf, 0, None), ("d", 1.5, 0, None)],
    )
    metrics = any_client.get_run(run.id).metrics
    assert math.isnan(metrics["a"].value)
    assert metrics["b"].value == math.inf
    assert metrics["c"].value == -math.inf
    assert metrics["d"].value == 1.5
    history = any_client.get_metric_history(run.id, "a")
    assert len(history.points) == 1
    assert math.isnan(history.points[0].value)


def test_latest_metric_is_highest_step_then_newest(any_client: Client) -> None:
    run = any_client.create_run()
    now = int(time.time() * 1000)
    any_client.log_batch(run.id, metrics=[("loss", 0.5, 10, now), ("loss", 0.9, 2, now + 5)])
    any_client.log_batch(run.id, metrics=[("loss", 0.7, 3, now + 10)])  # older step: not latest
    assert any_client.get_run(run.id).metrics["loss"].value == 0.5
    any_client.log_batch(run.id, metrics=[("loss", 0.4, 10, now + 20)])  # same step, newer
    latest = any_client.get_run(run.id).metrics["loss"]
    assert (latest.value, latest.step, latest.timestamp) == (0.4, 10, now + 20)
    assert any_client.get_metric_history(run.id, "loss").total_points == 4


def test_big_batch_and_limits(any_client: Client) -> None:
    run = any_client.create_run()
    points = [(f"m{i % 5}", float(i), i // 5, None) for i in range(20_000)]
    result = any_client.log_batch(run.id, metrics=points)
    assert result.metrics == 20_000
    assert any_client.get_run(run.id).metrics["m4"].value == 19_999.0
    assert any_client.get_metric_history(run.id, "m0", max_points=25_000).total_points == 4_000
    with pytest.raises(ValidationFailed, match="metrics"):
        any_client.log_batch(run.id, metrics=[("x", 1.0, i, None) for i in range(50_001)])
    with pytest.raises(ValidationFailed, match=r"metrics\.0\.key"):
        any_client.log_batch(run.id, metrics=[("bad key!", 1.0, 0, None)])


def test_history_downsampling(any_client: Client) -> None:
    run = any_client.create_run()
    any_client.log_batch(run.id, metrics=[("acc", float(s), s, None) for s in range(10_000)])
    full = any_client.get_metric_history(run.id, "acc", max_points=10_000)
    assert not full.downsampled
    assert len(full.points) == 10_000
    small = any_client.get_metric_history(run.id, "acc", max_points=100)
    assert small.downsampled
    assert small.total_points == 10_000
    assert len(small.points) == 100
    first = small.points[0]
    assert (first.step, first.min, first.max, first.count) == (0, 0.0, 99.0, 100)
    assert first.value == pytest.approx(49.5)
    window = any_client.get_metric_history(run.id, "acc", max_points=1000, start_step=500, end_step=599)
    assert [p.step for p in window.points] == list(range(500, 600))
    with pytest.raises(NotFound, match="no metric 'nope'"):
        any_client.get_metric_history(run.id, "nope")
    with pytest.raises(InvalidArgument):
        any_client.get_metric_history(run.id, "acc", max_points=0)


def test_compare_runs(any_client: Client) -> None:
    a = any_client.create_run(name="a")
    b = any_client.create_run(name="b")
    any_client.log_batch(a.id, params={"lr": "0.1", "depth": "3"}, metrics=[("auc", 0.9, 0, None)], tags={"t": "x"})
    any_client.log_batch(b.id, params={"lr": "0.2", "depth": "3"}, metrics=[("auc", 0.8, 0, None)])
    cmp = any_client.compare_runs([a.id, b.id])
    assert [r["name"] for r in cmp.runs] == ["a", "b"]
    assert cmp.params["lr"] == {a.id: "0.1", b.id: "0.2"}
    assert cmp.metrics["auc"] == {a.id: 0.9, b.id: 0.8}
    assert cmp.tags["t"] == {a.id: "x", b.id: None}
    assert cmp.differing_params == ["lr"]
    with pytest.raises(NotFound):
        any_client.compare_runs([a.id, "f" * 32])


def test_dataset_inputs(any_client: Client, tmp_path: Path) -> None:
    from shipyard.client.datasets import describe

    csv = tmp_path / "train.csv"
    csv.write_text("a,b\n1,2\n3,4\n")
    run = any_client.create_run()
    dataset = describe(csv, name="train")
    any_client.log_inputs(run.id, [dataset])
    any_client.log_inputs(run.id, [dataset])  # idempotent
    inputs = any_client.get_run(run.id).inputs
    assert len(inputs) == 1
    assert inputs[0].dataset.row_count == 2
    assert inputs[0].context == "training"
    assert inputs[0].dataset.schema_ == {"columns": [{"name": "a", "type": "string"}, {"name": "b", "type": "string"}]}


def test_run_artifacts(any_client: Client, tmp_path: Path) -> None:
    run = any_client.create_run()
    (tmp_path / "out" / "plots").mkdir(parents=True)
    (tmp_path / "out" / "report.txt").write_text("ok")
    (tmp_path / "out" / "plots" / "roc.svg").write_text("<svg/>")
    logged = any_client.log_artifacts(run.id, tmp_path / "out", artifact_path="eval")
    assert sorted(a.path for a in logged) == ["eval/plots/roc.svg", "eval/report.txt"]
    single = any_client.log_artifact(run.id, tmp_path / "out" / "report.txt")
    assert single.path == "report.txt"
    listed = [a.path for a in any_client.iter_artifacts(run.id, prefix="eval/plots")]
    assert listed == ["eval/plots/roc.svg"]
    dest = any_client.download_artifacts(run.id, "eval", tmp_path / "dl")
    assert (dest / "plots" / "roc.svg").read_text() == "<svg/>"
    one = any_client.download_artifacts(run.id, "eval/report.txt", tmp_path / "dl2")
    assert one.read_text() == "ok"
    (tmp_path / "other.txt").write_text("different")
    other = any_client.upload_blob(tmp_path / "other.txt")
    with pytest.raises(Conflict, match="immutable"):
        any_client._request(
            "POST",
            f"/api/v1/projects/default/runs/{run.id}/artifacts",
            json={"files": [{"path": "report.txt", "digest": other.digest}]},
        )
    with pytest.raises(InvalidArgument, match="relative path"):
        any_client._request(
            "POST",
            f"/api/v1/projects/default/runs/{run.id}/artifacts",
            json={"files": [{"path": "../escape", "digest": other.digest}]},
        )
    with pytest.raises(NotFound, match="has not been uploaded"):
        any_client._request(
            "POST",
            f"/api/v1/projects/default/runs/{run.id}/artifacts",
            json={"files": [{"path": "ghost", "digest": "0" * 64}]},
        )


def test_every_state_change_is_an_event(any_client: Client) -> None:
    exp = any_client.create_experiment("audited")
    run = any_client.create_run(exp.id)
    any_client.log_batch(run.id, params={"a": 1})
    any_client.update_run(run.id, status="FINISHED")
    actions = [e.action for e in any_client.list_events(max_results=1000).items]
    assert actions[-4:] == ["experiment.create", "run.create", "run.log", "run.update"]
    run_events = any_client.list_events(object_type="run", object_id=run.id).items
    assert [e.action for e in run_events] == ["run.create", "run.log", "run.update"]
    assert run_events[-1].details["status"] == {"from": "RUNNING", "to": "FINISHED"}
    assert all(e.actor for e in run_events)
    assert all(e.request_id for e in run_events)


def test_runs_are_scoped_to_their_project(any_client: Client) -> None:
    any_client.create_project("other")
    run = any_client.create_run()
    with pytest.raises(NotFound):
        any_client.get_run(run.id, project="other")


def test_search_through_the_api(any_client: Client) -> None:
    exp = any_client.create_experiment("search-api")
    for i in range(12):
        run = any_client.create_run(exp.id, name=f"r{i}")
        any_client.log_batch(
            run.id,
            metrics=[("auc", i / 10, 0, None)],
            params={"lr": "0.01" if i % 2 else "0.1"},
            tags={"team": "risk" if i < 6 else "growth"},
        )
    page = any_client.search_runs(
        experiment_ids=[exp.id],
        filter="(metrics.auc > 0.5 and params.lr = '0.01') or tags.team = 'risk' and metrics.auc < 0.2",
        order_by=["metrics.auc DESC"],
        max_results=3,
    )
    assert [r.name for r in page.items] == ["r11", "r9", "r7"]
    rest = any_client.search_runs(
        experiment_ids=[exp.id],
        filter="(metrics.auc > 0.5 and params.lr = '0.01') or tags.team = 'risk' and metrics.auc < 0.2",
        order_by=["metrics.auc DESC"],
        max_results=3,
        page_token=page.next_page_token,
    )
    assert [r.name for r in rest.items] == ["r1", "r0"]
    assert rest.next_page_token is None
    with pytest.raises(InvalidArgument) as info:
        any_client.search_runs(filter="metrics.auc banana 1")
    assert info.value.details["field"] == "filter"
    assert info.value.details["position"] == 13
    with pytest.raises(InvalidArgument):
        any_client.search_runs(filter="tags.team = 'x'", page_token=page.next_page_token)
