"""Alerting through the SDK (local mode and a real server) and the CLI, on SQLite and
PostgreSQL: CRUD round trips, errors that name the field, secrets never shown, a pass
that fires and delivers, deliveries listed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from shipyard.cli.main import app as cli
from shipyard.client import Client
from shipyard.errors import InvalidArgument, NotFound, ValidationFailed
from tests.alerts.conftest import TOKEN, WebhookReceiver

FAST = {"max_attempts": 3, "backoff_s": 0.01, "max_backoff_s": 0.02, "timeout_s": 5}


def test_round_trip_fire_deliver_and_list(any_client: Client, webhook: WebhookReceiver) -> None:
    c = any_client
    made = c.put_alert_receiver(
        {
            "name": "ops",
            "url": webhook.hook_url,
            "headers": {"Authorization": f"Bearer {TOKEN}"},
            "retry": FAST,
            "signing_secret": "s" * 32,
        }
    )
    assert made.outcome == "created"
    assert TOKEN not in made.model_dump_json()
    assert made.header_names == ["Authorization"]
    assert made.signed
    assert c.get_alert_receiver("ops").url == made.url
    rule = {
        "name": "errors-high",
        "source": {"kind": "series", "series": "errors"},
        "threshold": 5,
        "receivers": ["ops"],
    }
    assert c.put_alert_rule(rule).outcome == "created"
    assert c.put_alert_rule(rule).outcome == "unchanged"
    assert c.put_alert_rule({**rule, "for": "1m"}).outcome == "updated"
    assert c.get_alert_rule("errors-high").spec.for_ == 60
    assert c.put_alert_rule({**rule, "for": 0}).outcome == "updated"
    assert [r.name for r in c.iter_alert_rules()] == ["errors-high"]

    assert c.push_observations("errors", [9.0]) == 1
    webhook.fail_first = 1
    result = c.evaluate_alerts()
    assert len(result.firing) == 1
    assert [(n.kind, n.status, n.attempts) for n in result.notifications] == [("firing", "delivered", 2)]
    assert c.evaluate_alerts().notifications == []  # deduplicated
    firing = c.list_alerts(status="firing").items
    assert [(a.name, a.rule, a.value) for a in firing] == [("errors-high", "errors-high", 9.0)]
    deliveries = list(c.iter_alert_deliveries(receiver="ops"))
    assert [(d.attempt, d.outcome, d.http_status) for d in deliveries] == [(2, "delivered", 200), (1, "failed", 503)]
    assert "X-Shipyard-Signature".lower() in webhook.received[-1].headers

    sent = c.test_alert_receiver("ops")
    assert (sent.kind, sent.status) == ("test", "delivered")
    assert webhook.received[-1].json()["status"] == "test"

    c.delete_alert_rule("errors-high")
    assert c.list_alerts().items == []  # its alerts went with it
    with pytest.raises(NotFound):
        c.get_alert_rule("errors-high")


def test_errors_name_the_field(any_client: Client) -> None:
    c = any_client
    with pytest.raises(InvalidArgument) as missing:
        c.put_alert_rule(
            {"name": "r", "source": {"kind": "series", "series": "s"}, "threshold": 1, "receivers": ["nobody"]}
        )
    assert missing.value.details["field"] == "receivers"
    with pytest.raises(InvalidArgument) as field:
        c.put_alert_rule(
            {"name": "r", "source": {"kind": "monitor", "monitor": "m", "field": "nonsense"}, "threshold": 1}
        )
    assert field.value.details["field"] == "source.field"
    with pytest.raises(ValidationFailed) as bad:
        c.put_slo({"name": "s", "endpoint": "e", "objective": 1.5, "target": {"url": "http://x/metrics"}})
    assert bad.value.details["fields"][0]["field"] == "objective"
    with pytest.raises(ValidationFailed) as latency:
        c.put_slo({"name": "s", "endpoint": "e", "kind": "latency", "objective": 0.9, "target": {"url": "http://x/m"}})
    assert "latency_threshold" in latency.value.message
    with pytest.raises(InvalidArgument) as status:
        c.list_alerts(status="burning")
    assert status.value.details["field"] == "status"


def test_slo_round_trip_and_status_without_samples(any_client: Client) -> None:
    c = any_client
    spec = {
        "name": "churn-avail",
        "endpoint": "churn",
        "objective": 0.995,
        "target": {"url": "http://127.0.0.1:9/metrics"},
    }
    assert c.put_slo(spec).outcome == "created"
    got = c.get_slo("churn-avail").spec
    assert [(w.name, w.factor, w.long, w.short) for w in got.burn_windows] == [
        ("page-1h", 14.4, 3600, 300),
        ("page-6h", 6.0, 21600, 1800),
        ("ticket-3d", 1.0, 259200, 21600),
    ]
    assert got.window == 30 * 86400
    status = c.slo_status("churn-avail")
    assert (status.samples, status.error_ratio, status.budget_remaining) == (0, None, None)
    assert [s.name for s in c.iter_slos()] == ["churn-avail"]
    c.delete_slo("churn-avail")
    assert list(c.iter_slos()) == []


def test_cli(runner: CliRunner, cli_args: list[str], webhook: WebhookReceiver, tmp_path: Path) -> None:
    def sy(*args: str) -> str:
        result = runner.invoke(cli, [*cli_args, "alerts", *args])
        assert result.exit_code == 0, result.output
        return result.output

    receiver_file = tmp_path / "ops.yaml"
    receiver_file.write_text(yaml.safe_dump({"name": "ops", "kind": "slack", "url": webhook.hook_url, "retry": FAST}))
    assert "receiver ops: created" in sy("receivers", "create", "-f", str(receiver_file))
    listed = json.loads(sy("receivers", "list", "--json"))
    assert listed["receivers"][0]["kind"] == "slack"
    assert TOKEN not in json.dumps(listed)
    assert "rule drift: created" in sy(
        "rules",
        "create",
        "drift",
        "--series",
        "drift_share",
        "--threshold",
        "0.5",
        "--receiver",
        "ops",
        "--severity",
        "page",
    )
    assert "drift_share" in sy("rules", "list")
    assert "pushed 0.7" in sy("push", "drift_share", "0.7", "--label", "endpoint=churn")
    evaluated = sy("evaluate")
    assert "1 firing" in evaluated
    assert "firing drift → ops: delivered" in evaluated
    alerts = json.loads(sy("list", "--status", "firing", "--json"))["alerts"]
    assert [(a["name"], a["labels"]) for a in alerts] == [("drift", {"endpoint": "churn"})]
    assert "firing" in sy("list")
    assert json.loads(sy("deliveries", "--json"))["deliveries"][0]["outcome"] == "delivered"
    assert webhook.received[0].json()["text"].startswith("[FIRING] drift (page)")
    assert "slo churn: created" in sy(
        "slo",
        "create",
        "churn",
        "--endpoint",
        "churn",
        "--objective",
        "0.995",
        "--metrics-url",
        "http://127.0.0.1:9/metrics",
    )
    assert "page-1h" in sy("slo", "status", "churn")
    assert "deleted rule drift" in sy("rules", "delete", "drift")
    bad = runner.invoke(cli, [*cli_args, "alerts", "rules", "create", "x", "--series", "s"])
    assert bad.exit_code == 2
    assert "threshold" in bad.output
