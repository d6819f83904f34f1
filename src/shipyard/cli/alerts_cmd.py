"""``shipyard alerts``: rules, webhook receivers, SLOs, evaluation passes, alerts, deliveries."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shipyard.cli.context import JsonOption, ProjectOption, ctx_of, out, print_json, print_table, reported

if TYPE_CHECKING:
    from shipyard.alerts.schemas import AlertOut, DeliveryOut, ReceiverOut, RuleOut, SLOOut, SLOStatus
    from shipyard.client import Client

app = typer.Typer(help="Alerts: rules, webhook receivers, SLOs with burn-rate alerts.", no_args_is_help=True)
rules = typer.Typer(help="Alert rules over monitor results, pushed series and serving metrics.", no_args_is_help=True)
receivers = typer.Typer(help="Webhook receivers (generic JSON or Slack).", no_args_is_help=True)
slo = typer.Typer(help="Service level objectives with multi-window burn-rate alerts.", no_args_is_help=True)
app.add_typer(rules, name="rules")
app.add_typer(receivers, name="receivers")
app.add_typer(slo, name="slo")

FileOption = typer.Option("--file", "-f", help="The spec (YAML or JSON); flags fill in when there is none.")
ReceiverOption = typer.Option("--receiver", "-r", help="Receiver to notify (repeatable).")


def _labels(pairs: list[str], field: str) -> dict[str, str]:
    from shipyard.errors import InvalidArgument

    found = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"{field} takes KEY=VALUE, not '{pair}'", {"field": field})
        found[key] = value
    return found


def _put(kind: str, outcome: str | None, name: str) -> None:
    out.print(f"{kind} {name}: {outcome}", highlight=False)


def _listing(
    ctx: typer.Context,
    kind: str,
    fetch: Callable[[Client], Iterable[Any]],
    json_out: bool,
    title: str,
    columns: list[str],
    row: Callable[[Any], list[Any]],
) -> None:
    cli = ctx_of(ctx)
    with reported(cli):
        items = list(fetch(cli.client()))
        if json_out:
            print_json({kind: items})
            return
        print_table(title, columns, [row(item) for item in items])


def _delete(ctx: typer.Context, kind: str, name: str, project: str | None) -> None:
    cli = ctx_of(ctx)
    with reported(cli):
        client = cli.client()
        delete = {"rule": client.delete_alert_rule, "receiver": client.delete_alert_receiver, "slo": client.delete_slo}
        delete[kind](name, project=project)
        out.print(f"deleted {kind} {name}", highlight=False)


# -- rules --------------------------------------------------------------------------------------
@rules.command("create")
def rules_create(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Rule name (or in the file).")] = None,
    file: Annotated[Path | None, FileOption] = None,
    series: Annotated[str | None, typer.Option(help="Source: a pushed series.")] = None,
    monitor: Annotated[str | None, typer.Option(help="Source: a monitor (with --field).")] = None,
    field: Annotated[str | None, typer.Option(help="Monitor result field: drift_share, feature_drift[age], …")] = None,
    op: Annotated[str, typer.Option(help="Comparison: > >= < <= == !=")] = ">",
    threshold: Annotated[float | None, typer.Option(help="Value compared with.")] = None,
    for_: Annotated[str, typer.Option("--for", help="How long before firing (e.g. 5m).")] = "0s",
    severity: Annotated[str, typer.Option(help="e.g. page, ticket, warning.")] = "warning",
    summary: Annotated[str, typer.Option(help="Text of the notification.")] = "",
    receiver: Annotated[list[str] | None, ReceiverOption] = None,
    label: Annotated[list[str] | None, typer.Option("--label", "-l", help="KEY=VALUE (repeatable).")] = None,
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Create or replace an alert rule (from a file, or from flags for series and monitor rules)."""
    from shipyard.alerts.schemas import RuleSpec, load_file, parse_as

    cli = ctx_of(ctx)
    with reported(cli):
        if file is not None:
            spec = load_file(RuleSpec, file)
        else:
            source: dict[str, Any] = {"kind": "series", "series": series}
            if monitor is not None:
                source = {"kind": "monitor", "monitor": monitor, "field": field}
            data = {
                "name": name,
                "source": source,
                "op": op,
                "threshold": threshold,
                "for": for_,
                "severity": severity,
                "summary": summary,
                "receivers": receiver or [],
                "labels": _labels(label or [], "--label"),
            }
            spec = parse_as(RuleSpec, data, "flags")
        rule = cli.client().put_alert_rule(spec, project=project)
        print_json(rule) if json_out else _put("rule", rule.outcome, rule.name)


@rules.command("list")
def rules_list(
    ctx: typer.Context, project: Annotated[str | None, ProjectOption] = None, json_out: bool = JsonOption
) -> None:
    """List alert rules."""

    def row(r: RuleOut) -> list[Any]:
        s, src = r.spec, r.spec.source
        what = src.series if src.kind == "series" else src.field if src.kind == "monitor" else src.expr
        return [r.name, src.kind, what, f"{s.op} {s.threshold:g}", f"{s.for_:g}s", s.severity, ", ".join(s.receivers)]

    columns = ["name", "source", "value", "condition", "for", "severity", "receivers"]
    _listing(ctx, "rules", lambda c: c.iter_alert_rules(project=project), json_out, "Alert rules", columns, row)


@rules.command("delete")
def rules_delete(ctx: typer.Context, name: str, project: Annotated[str | None, ProjectOption] = None) -> None:
    """Delete a rule (and its alerts)."""
    _delete(ctx, "rule", name, project)


# -- receivers ----------------------------------------------------------------------------------
@receivers.command("create")
def receivers_create(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Receiver name (or in the file).")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="The spec; keeps the URL out of shell history.")
    ] = None,
    url: Annotated[str | None, typer.Option(help="Webhook URL (a secret: prefer --file).")] = None,
    kind: Annotated[str, typer.Option(help="webhook (generic JSON) or slack.")] = "webhook",
    max_attempts: Annotated[int, typer.Option(help="Delivery attempts before giving up.")] = 5,
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Create or replace a webhook receiver. Its URL, headers and signing secret are stored encrypted."""
    from shipyard.alerts.schemas import ReceiverSpec, load_file, parse_as

    cli = ctx_of(ctx)
    with reported(cli):
        if file is not None:
            spec = load_file(ReceiverSpec, file)
        else:
            data = {"name": name, "kind": kind, "url": url, "retry": {"max_attempts": max_attempts}}
            spec = parse_as(ReceiverSpec, data, "flags")
        made = cli.client().put_alert_receiver(spec, project=project)
        print_json(made) if json_out else _put("receiver", made.outcome, made.name)


@receivers.command("list")
def receivers_list(
    ctx: typer.Context, project: Annotated[str | None, ProjectOption] = None, json_out: bool = JsonOption
) -> None:
    """List receivers (URLs redacted)."""

    def row(r: ReceiverOut) -> list[Any]:
        return [r.name, r.kind, r.url, "yes" if r.signed else "", r.retry.max_attempts]

    _listing(
        ctx,
        "receivers",
        lambda c: c.iter_alert_receivers(project=project),
        json_out,
        "Receivers",
        ["name", "kind", "url", "signed", "attempts"],
        row,
    )


@receivers.command("test")
def receivers_test(
    ctx: typer.Context, name: str, project: Annotated[str | None, ProjectOption] = None, json_out: bool = JsonOption
) -> None:
    """Send a test notification now (see `shipyard alerts deliveries`)."""
    cli = ctx_of(ctx)
    with reported(cli):
        sent = cli.client().test_alert_receiver(name, project=project)
        if json_out:
            print_json(sent)
            return
        out.print(f"receiver {name}: {sent.status} after {sent.attempts} attempt(s)", highlight=False)
        if sent.status != "delivered":
            raise typer.Exit(1)


@receivers.command("delete")
def receivers_delete(ctx: typer.Context, name: str, project: Annotated[str | None, ProjectOption] = None) -> None:
    """Delete a receiver."""
    _delete(ctx, "receiver", name, project)


# -- SLOs ---------------------------------------------------------------------------------------
@slo.command("create")
def slo_create(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="SLO name (or in the file).")] = None,
    file: Annotated[Path | None, FileOption] = None,
    endpoint: Annotated[str | None, typer.Option(help="The endpoint it is about.")] = None,
    objective: Annotated[float | None, typer.Option(help="e.g. 0.995")] = None,
    metrics_url: Annotated[str | None, typer.Option(help="Its gateway's /metrics URL.")] = None,
    kind: Annotated[str, typer.Option(help="availability or latency.")] = "availability",
    latency_threshold: Annotated[str | None, typer.Option(help="latency: e.g. 100ms (a bucket bound).")] = None,
    window: Annotated[str, typer.Option(help="The SLO window.")] = "30d",
    receiver: Annotated[list[str] | None, ReceiverOption] = None,
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Create or replace an SLO (burn-rate windows: the SRE workbook's, or the file's)."""
    from shipyard.alerts.schemas import SLOSpec, load_file, parse_as

    cli = ctx_of(ctx)
    with reported(cli):
        if file is not None:
            spec = load_file(SLOSpec, file)
        else:
            data = {
                "name": name,
                "endpoint": endpoint,
                "objective": objective,
                "kind": kind,
                "window": window,
                "latency_threshold": latency_threshold,
                "receivers": receiver or [],
                "target": {"url": metrics_url, "labels": {"endpoint": endpoint} if endpoint else {}},
            }
            spec = parse_as(SLOSpec, data, "flags")
        made = cli.client().put_slo(spec, project=project)
        print_json(made) if json_out else _put("slo", made.outcome, made.name)


@slo.command("list")
def slo_list(
    ctx: typer.Context, project: Annotated[str | None, ProjectOption] = None, json_out: bool = JsonOption
) -> None:
    """List SLOs."""

    def row(s: SLOOut) -> list[Any]:
        return [s.name, s.spec.endpoint, s.spec.kind, f"{s.spec.objective:.3%}", f"{s.spec.window / 86400:g}d"]

    _listing(
        ctx,
        "slos",
        lambda c: c.iter_slos(project=project),
        json_out,
        "SLOs",
        ["name", "endpoint", "kind", "objective", "window"],
        row,
    )


def _show_status(status: SLOStatus) -> None:
    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}x"

    budget = "-" if status.budget_remaining is None else f"{status.budget_remaining:.1%}"
    out.print(
        f"SLO {status.name}: objective {status.objective:.3%}, {status.total:g} requests, {status.bad:g} bad, "
        f"error budget remaining {budget} ({status.samples} samples)",
        highlight=False,
    )
    if status.error:
        out.print(f"error: {status.error}", highlight=False)
    rows = [
        [b.window, b.severity, f"{b.factor:g}x", fmt(b.long_burn), fmt(b.short_burn), "BURNING" if b.burning else ""]
        for b in status.burns
    ]
    print_table("Burn rates", ["window", "severity", "factor", "long", "short", ""], rows)


@slo.command("status")
def slo_status(
    ctx: typer.Context, name: str, project: Annotated[str | None, ProjectOption] = None, json_out: bool = JsonOption
) -> None:
    """Error budget and burn rates from the samples stored so far."""
    cli = ctx_of(ctx)
    with reported(cli):
        status = cli.client().slo_status(name, project=project)
        print_json(status) if json_out else _show_status(status)


@slo.command("delete")
def slo_delete(ctx: typer.Context, name: str, project: Annotated[str | None, ProjectOption] = None) -> None:
    """Delete an SLO (and its alerts)."""
    _delete(ctx, "slo", name, project)


# -- passes, alerts, deliveries -----------------------------------------------------------------
@app.command("evaluate")
def evaluate(
    ctx: typer.Context,
    deliver: Annotated[bool, typer.Option("--deliver/--no-deliver", help="Send the notifications owed.")] = True,
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """One evaluation pass: scrape, evaluate every rule and SLO, deliver (run it from cron)."""
    cli = ctx_of(ctx)
    with reported(cli):
        result = cli.client().evaluate_alerts(deliver=deliver, project=project)
        if json_out:
            print_json(result)
            return
        out.print(
            f"evaluated {result.evaluated} alert(s): {len(result.firing)} firing, "
            f"{len(result.notifications)} notification(s) sent",
            highlight=False,
        )
        for n in result.notifications:
            out.print(f"  {n.kind} {n.alert} → {n.receiver}: {n.status} ({n.attempts} attempt(s))", highlight=False)
        for e in result.errors:
            out.print(f"  error: {e}", highlight=False, soft_wrap=True)


@app.command("push")
def push(
    ctx: typer.Context,
    series: str,
    value: float,
    label: Annotated[list[str] | None, typer.Option("--label", "-l", help="KEY=VALUE (repeatable).")] = None,
    project: Annotated[str | None, ProjectOption] = None,
) -> None:
    """Push a value (now) to a series that series rules watch."""
    cli = ctx_of(ctx)
    with reported(cli):
        cli.client().push_observations(series, [value], labels=_labels(label or [], "--label"), project=project)
        out.print(f"pushed {value:g} to {series}", highlight=False)


def _alert_row(a: AlertOut) -> list[Any]:
    labels = ", ".join(f"{k}={v}" for k, v in sorted(a.labels.items()))
    value = "-" if a.value is None else f"{a.value:.4g}"
    since = a.fired_at or a.active_since
    return [a.name, a.status, a.severity, value, labels, since.isoformat(timespec="seconds") if since else ""]


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="firing, pending, resolved or inactive.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most this many, most recent first.")] = 50,
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Alert instances (firing, pending, resolved), most recently changed first."""

    def fetch(client: Client) -> list[AlertOut]:
        return client.list_alerts(status=status, max_results=limit, project=project).items

    columns = ["name", "status", "severity", "value", "labels", "since"]
    _listing(ctx, "alerts", fetch, json_out, "Alerts", columns, _alert_row)


@app.command("deliveries")
def deliveries(
    ctx: typer.Context,
    receiver: Annotated[str | None, typer.Option(help="Only this receiver's.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most this many, newest first.")] = 50,
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Every delivery attempt: outcome, HTTP status, error (secrets redacted), duration."""

    def fetch(client: Client) -> list[DeliveryOut]:
        return client.list_alert_deliveries(receiver=receiver, max_results=limit, project=project).items

    def row(d: DeliveryOut) -> list[Any]:
        at = d.at.isoformat(timespec="seconds")
        return [
            at,
            d.receiver,
            d.alert,
            d.kind,
            d.attempt,
            d.outcome,
            d.http_status or "-",
            f"{d.duration_ms:.0f}",
            d.error,
        ]

    columns = ["at", "receiver", "alert", "kind", "attempt", "outcome", "http", "ms", "error"]
    _listing(ctx, "deliveries", fetch, json_out, "Deliveries", columns, row)
