"""Evaluation passes over the real stores (SQLite and PostgreSQL): rules over pushed
series, serving metrics and monitor results; SLO burn-rate alerts; notifications
delivered to a loopback receiver, deduplicated, retried and recorded."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

import shipyard.alerts.queries as queries  # noqa: PLR0402 (mypy: the package does not re-export its modules)
import shipyard.alerts.receivers as receivers  # noqa: PLR0402
import shipyard.alerts.service as service  # noqa: PLR0402
from shipyard.alerts.evaluation import evaluate
from shipyard.alerts.schemas import EvaluationOut, ObservationIn, ReceiverSpec, RetryPolicy, RuleSpec, SLOSpec
from shipyard.alerts.secrets import SecretBox
from shipyard.alerts.tables import AlertDelivery
from shipyard.events.context import Actor
from shipyard.monitoring.tables import Monitor, MonitorResult
from shipyard.projects import service as projects
from shipyard.settings import Settings
from shipyard.store.engine import Database
from shipyard.store.schema import prepare
from tests.alerts.conftest import TOKEN, MetricsPage, WebhookReceiver

ACTOR = Actor("tests")
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FAST = RetryPolicy(max_attempts=4, backoff_s=0.01, max_backoff_s=0.05, timeout_s=5)


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.database_url, settings.database)
    prepare(database, auto_upgrade=False)
    yield database
    database.dispose()


@pytest.fixture
def box(settings: Settings) -> SecretBox:
    return service.secret_box(settings)


def setup(db: Database, box: SecretBox, *specs: RuleSpec | SLOSpec | ReceiverSpec) -> None:
    with db.session() as session:
        project = projects.get_by_name(session, "default")
        for spec in specs:
            if isinstance(spec, ReceiverSpec):
                receivers.put(session, ACTOR, box, project, spec)
            elif isinstance(spec, RuleSpec):
                service.put_rule(session, ACTOR, project, spec)
            else:
                service.put_slo(session, ACTOR, project, spec)


def push(db: Database, series: str, value: float, at: datetime, **labels: str) -> None:
    with db.session() as session:
        project = projects.get_by_name(session, "default")
        service.push_observations(session, project, [ObservationIn(series=series, value=value, at=at, labels=labels)])


def run(db: Database, box: SecretBox, at: datetime) -> EvaluationOut:
    return evaluate(db, box, ACTOR, "default", now=at, retry=FAST, rng=random.Random(3))


def hook(webhook: WebhookReceiver, name: str = "ops", kind: str = "webhook") -> ReceiverSpec:
    return ReceiverSpec(name=name, kind=kind, url=webhook.hook_url, headers={"Authorization": f"Bearer {TOKEN}"})


def statuses(db: Database) -> dict[str, str]:
    with db.session(readonly=True) as session:
        project = projects.get_by_name(session, "default")
        page = queries.list_alerts(session, project, status=None, page_token=None, page_size=100)
    return {f"{a.name}{sorted(a.labels.items())}": a.status for a in page.items}


def test_series_rule_fires_once_resolves_once_and_retries_a_failing_receiver(
    db: Database, box: SecretBox, webhook: WebhookReceiver
) -> None:
    webhook.fail_first = 2
    setup(
        db,
        box,
        hook(webhook),
        RuleSpec.model_validate(
            {
                "name": "errors-high",
                "source": {"kind": "series", "series": "errors"},
                "op": ">",
                "threshold": 5,
                "receivers": ["ops"],
            }
        ),
    )
    push(db, "errors", 9, T0)
    first = run(db, box, T0)
    assert len(first.firing) == 1
    assert [(n.kind, n.status, n.attempts) for n in first.notifications] == [("firing", "delivered", 3)]
    # evaluated again and again while still firing: no second notification
    for minutes in (1, 2, 3):
        assert run(db, box, T0 + timedelta(minutes=minutes)).notifications == []
    push(db, "errors", 1, T0 + timedelta(minutes=4))
    resolved = run(db, box, T0 + timedelta(minutes=4))
    assert resolved.firing == []
    assert [(n.kind, n.status, n.attempts) for n in resolved.notifications] == [("resolved", "delivered", 1)]
    bodies = [r.json() for r in webhook.received]
    assert [b["status"] for b in bodies] == ["firing"] * 3 + ["resolved"]
    assert bodies[0]["alert"]["value"] == 9
    assert webhook.received[0].headers["authorization"] == f"Bearer {TOKEN}"
    with db.session(readonly=True) as session:
        project = projects.get_by_name(session, "default")
        deliveries = queries.list_deliveries(session, project, receiver="ops", page_token=None, page_size=100).items
        raw = [(d.error, d.outcome) for d in session.query(AlertDelivery).all()]
    assert [(d.kind, d.attempt, d.outcome, d.http_status) for d in reversed(deliveries)] == [
        ("firing", 1, "failed", 503),
        ("firing", 2, "failed", 503),
        ("firing", 3, "delivered", 200),
        ("resolved", 1, "delivered", 200),
    ]
    assert all(TOKEN not in e for e, _ in raw)
    assert statuses(db) == {"errors-high[]": "resolved"}


def test_for_duration_and_one_instance_per_label_set(db: Database, box: SecretBox, webhook: WebhookReceiver) -> None:
    setup(
        db,
        box,
        hook(webhook, kind="slack"),
        RuleSpec.model_validate(
            {
                "name": "latency",
                "source": {"kind": "series", "series": "p99"},
                "op": ">=",
                "threshold": 0.5,
                "for": "10m",
                "receivers": ["ops"],
            }
        ),
    )
    push(db, "p99", 0.9, T0, region="eu")
    push(db, "p99", 0.1, T0, region="us")
    assert run(db, box, T0).notifications == []
    assert statuses(db) == {"latency[('region', 'eu')]": "pending"}  # us never became active
    assert run(db, box, T0 + timedelta(minutes=9)).notifications == []
    fired = run(db, box, T0 + timedelta(minutes=10))
    assert [n.kind for n in fired.notifications] == ["firing"]
    slack = webhook.received[0].json()
    assert slack["text"].startswith("[FIRING] latency")
    assert "region=eu" in slack["blocks"][2]["fields"][3]["text"]
    # the us series now breaches too: a second, independent instance, pending
    push(db, "p99", 0.7, T0 + timedelta(minutes=11), region="us")
    run(db, box, T0 + timedelta(minutes=11))
    assert statuses(db) == {"latency[('region', 'eu')]": "firing", "latency[('region', 'us')]": "pending"}


def test_metric_rule_on_a_scraped_error_ratio(
    db: Database, box: SecretBox, webhook: WebhookReceiver, metrics_page: MetricsPage
) -> None:
    target = {"url": f"{metrics_page.url}/metrics", "labels": {"endpoint": "churn"}}
    spec = {
        "name": "churn-5xx",
        "source": {"kind": "metric", "target": target, "expr": "error_ratio", "window": "5m"},
        "op": ">",
        "threshold": 0.05,
        "receivers": ["ops"],
    }
    setup(db, box, hook(webhook), RuleSpec.model_validate(spec))
    metrics_page.serve("churn", ok=100, errors=0)
    metrics_page.serve("other", ok=0, errors=50)  # another endpoint's errors do not count
    assert run(db, box, T0).firing == []  # one sample: no window yet
    metrics_page.serve("churn", ok=80, errors=20)
    out = run(db, box, T0 + timedelta(minutes=1))
    assert len(out.firing) == 1
    assert webhook.received[0].json()["alert"]["value"] == pytest.approx(0.2)
    metrics_page.serve("churn", ok=1000, errors=0)
    out = run(db, box, T0 + timedelta(minutes=7))  # the 5-minute window starts after the errors
    assert [n.kind for n in out.notifications] == ["resolved"]


def test_unreachable_metrics_page_is_reported_redacted(db: Database, box: SecretBox) -> None:
    target = {"url": f"http://127.0.0.1:9/metrics/{TOKEN}", "labels": {}, "timeout_s": 1}
    setup(
        db,
        box,
        RuleSpec.model_validate(
            {"name": "x", "source": {"kind": "metric", "target": target, "expr": "request_rate"}, "threshold": 1}
        ),
    )
    out = run(db, box, T0)
    assert len(out.errors) == 1
    assert out.errors[0].startswith("scrape http://127.0.0.1:9/… #")
    assert TOKEN not in out.errors[0]


def test_slo_pages_on_a_fast_burn_and_resolves(
    db: Database, box: SecretBox, webhook: WebhookReceiver, metrics_page: MetricsPage
) -> None:
    slo = SLOSpec.model_validate(
        {
            "name": "churn-availability",
            "endpoint": "churn",
            "objective": 0.99,
            "target": {"url": f"{metrics_page.url}/metrics", "labels": {"endpoint": "churn"}},
            "receivers": ["ops"],
        }
    )
    setup(db, box, hook(webhook), slo)
    now = T0
    for _ in range(12):  # an hour of clean traffic, a sample every 5 minutes
        metrics_page.serve("churn", ok=100, errors=0)
        assert run(db, box, now).firing == []
        now += timedelta(minutes=5)
    metrics_page.serve("churn", ok=250, errors=250)  # 5 minutes at 50 % errors: 50x the 1 % budget
    out = run(db, box, now)
    firing = {n.alert for n in out.notifications if n.kind == "firing"}
    assert firing == {"churn-availability:page-1h", "churn-availability:page-6h", "churn-availability:ticket-3d"}
    with db.session(readonly=True) as session:
        status = queries.slo_status(session, projects.get_by_name(session, "default"), "churn-availability", now)
    assert status.budget_remaining is not None
    assert status.budget_remaining < 0
    assert [b.burning for b in status.burns] == [True, True, True]
    now += timedelta(minutes=5)
    metrics_page.serve("churn", ok=500, errors=0)
    out = run(db, box, now)  # the 5-minute window is clean again
    resolved = {n.alert for n in out.notifications if n.kind == "resolved"}
    assert "churn-availability:page-1h" in resolved
    page = next(r.json() for r in webhook.received if r.json()["status"] == "firing")
    assert page["alert"]["severity"] in {"page", "ticket"}
    assert page["alert"]["details"]["long_burn"] > 14.4


def test_latency_slo_needs_a_bucket_bound(db: Database, box: SecretBox, metrics_page: MetricsPage) -> None:
    target = {"url": f"{metrics_page.url}/metrics", "labels": {"endpoint": "churn"}}
    good = SLOSpec.model_validate(
        {
            "name": "fast",
            "endpoint": "churn",
            "kind": "latency",
            "objective": 0.95,
            "latency_threshold": "100ms",
            "target": target,
        }
    )
    bad = SLOSpec.model_validate(
        {
            "name": "odd",
            "endpoint": "churn",
            "kind": "latency",
            "objective": 0.95,
            "latency_threshold": "120ms",
            "target": target,
        }
    )
    setup(db, box, good, bad)
    metrics_page.serve("churn", ok=10, errors=0, seconds=0.02)
    run(db, box, T0)
    metrics_page.serve("churn", ok=10, errors=0, seconds=0.5)  # all slow
    out = run(db, box, T0 + timedelta(minutes=5))
    assert out.errors == [
        "slo odd: latency threshold 0.12s is not a histogram bucket bound (bounds: 0.0005, 0.001, 0.0025, 0.005, "
        "0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)"
    ]
    assert len(out.firing) == 3  # 100 % slow against a 5 % budget: every window burns 20x


def test_monitor_rule_reads_the_latest_result(db: Database, box: SecretBox) -> None:
    with db.session() as session:
        project = projects.get_by_name(session, "default")
        monitor = Monitor(project_id=project.id, name="churn-drift", endpoint="churn", spec={})
        session.add(monitor)
        session.flush()
        for hours, share, age in [(0, 0.1, 0.01), (1, 0.6, 0.4)]:
            session.add(
                MonitorResult(
                    monitor_id=monitor.id,
                    project_id=project.id,
                    endpoint="churn",
                    trigger="manual",
                    status="ok",
                    window_end=T0 + timedelta(hours=hours),
                    drift_share=share,
                    features=[
                        {"column": "age", "statistic": age, "drifted": age > 0.1},
                        {"column": "plan", "statistic": 0.0, "drifted": False},
                    ],
                    performance={
                        "metrics": {"accuracy": 0.7},
                        "slices": [
                            {"column": "region", "value": "eu", "rows": 9, "metrics": {"accuracy": 0.4}},
                            {"column": "region", "value": "us", "rows": 9, "metrics": {"accuracy": 0.9}},
                        ],
                    },
                )
            )
    setup(
        db,
        box,
        RuleSpec.model_validate(
            {
                "name": "drift",
                "source": {"kind": "monitor", "monitor": "churn-drift", "field": "drift_share"},
                "threshold": 0.5,
            }
        ),
        RuleSpec.model_validate(
            {
                "name": "features",
                "source": {"kind": "monitor", "monitor": "churn-drift", "field": "feature_drifted[*]"},
                "op": "==",
                "threshold": 1,
            }
        ),
        RuleSpec.model_validate(
            {
                "name": "accuracy",
                "source": {"kind": "monitor", "monitor": "churn-drift", "field": "performance.accuracy"},
                "op": "<",
                "threshold": 0.8,
            }
        ),
        RuleSpec.model_validate(
            {
                "name": "slices",
                "source": {"kind": "monitor", "monitor": "churn-drift", "field": "slice_performance[region].accuracy"},
                "op": "<",
                "threshold": 0.5,
            }
        ),
    )
    run(db, box, T0 + timedelta(minutes=30))  # only the first result's window has ended
    assert statuses(db) == {
        "accuracy[('monitor_endpoint', 'churn')]": "firing",
        "slices[('monitor_endpoint', 'churn'), ('slice', 'region=eu')]": "firing",
    }
    run(db, box, T0 + timedelta(hours=2))
    assert statuses(db) == {
        "accuracy[('monitor_endpoint', 'churn')]": "firing",
        "drift[('monitor_endpoint', 'churn')]": "firing",
        "features[('feature', 'age'), ('monitor_endpoint', 'churn')]": "firing",
        "slices[('monitor_endpoint', 'churn'), ('slice', 'region=eu')]": "firing",
    }
