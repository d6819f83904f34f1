"""``shipyard monitor``: the prediction log (query, retention, compaction), feedback, monitors, reports."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shipyard.cli.context import (
    JsonOption,
    ProjectOption,
    ctx_of,
    err,
    out,
    print_fields,
    print_json,
    print_table,
    reported,
)

if TYPE_CHECKING:
    from shipyard.monitoring.schemas import MonitorOut, MonitorResultOut

app = typer.Typer(
    help="Model monitoring: query the prediction log, send feedback, run drift/quality/performance monitors.",
    no_args_is_help=True,
)


def _cell(value: Any) -> Any:
    """A table cell: times in ISO 8601, floats to 6 digits, text with rich markup escaped."""
    from rich.markup import escape

    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, str):
        return escape(value)
    return value


# --- the prediction log ------------------------------------------------------------------


@app.command("query")
def query(
    ctx: typer.Context,
    sql: Annotated[str, typer.Argument(help="DuckDB SQL over predictions, feedback, predictions_with_feedback.")],
    limit: Annotated[int, typer.Option("--limit", "-n", help="Rows shown at most.")] = 100,
    project: Annotated[str | None, typer.Option("--project", "-p", help="Only this project's log.")] = None,
    json_out: bool = JsonOption,
) -> None:
    """Run SQL over the prediction log and feedback on this machine (monitoring.prediction_log_url)."""
    from shipyard.monitoring.logstore import LogStore

    cli = ctx_of(ctx)
    with reported(cli):
        result = LogStore.from_settings(cli.settings).query(sql, limit=limit, project=project)
        if json_out:
            print_json(
                {
                    "columns": result.columns,
                    "rows": [dict(zip(result.columns, row, strict=True)) for row in result.rows],
                    "truncated": result.truncated,
                }
            )
            return
        print_table(None, result.columns, [[_cell(v) for v in row] for row in result.rows])
        if result.truncated:
            out.print(f"(first {limit} rows; raise --limit to see more)")


@app.command("retention")
def retention(
    ctx: typer.Context,
    older_than: Annotated[
        str | None, typer.Option("--older-than", help="Age, e.g. 30d, 12h [default: monitoring.retention_days].")
    ] = None,
    apply: Annotated[bool, typer.Option("--apply", help="Delete; without it, only show what would go.")] = False,
    project: Annotated[str | None, typer.Option("--project", "-p", help="Only this project's log.")] = None,
    json_out: bool = JsonOption,
) -> None:
    """Delete whole date partitions of the prediction and feedback logs older than an age (dry run by default)."""
    from shipyard.monitoring.logstore import LogStore, parse_age

    cli = ctx_of(ctx)
    with reported(cli):
        age = parse_age(older_than or f"{cli.settings.monitoring.retention_days}d", "older_than")
        gone = LogStore.from_settings(cli.settings).apply_retention(age, project=project, dry_run=not apply)
        if json_out:
            print_json({"applied": apply, "partitions": [vars(p) for p in gone]})
            return
        print_table(
            "Deleted" if apply else "Would delete (dry run; --apply deletes)",
            ["log", "date", "files", "bytes", "path"],
            [[p.log, p.date.isoformat(), p.files, p.bytes, p.path] for p in gone],
        )


@app.command("compact")
def compact(
    ctx: typer.Context,
    small_mb: Annotated[float, typer.Option("--small-mb", help="Files under this size (MiB) are merged.")] = 32.0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show what would be merged.")] = False,
    project: Annotated[str | None, typer.Option("--project", "-p", help="Only this project's log.")] = None,
    json_out: bool = JsonOption,
) -> None:
    """Merge the small files of each partition into one (readers never see a row twice or miss one)."""
    from shipyard.monitoring.logstore import LogStore

    cli = ctx_of(ctx)
    with reported(cli):
        result = LogStore.from_settings(cli.settings).compact(
            project=project, small_bytes=int(small_mb * 1024 * 1024), dry_run=dry_run
        )
        if json_out:
            print_json({"dry_run": dry_run, **vars(result)})
            return
        verb = "would merge" if dry_run else "merged"
        out.print(f"{verb} {result.files_merged} files ({result.rows} rows) into {result.files_written}")


# --- feedback ----------------------------------------------------------------------------


@app.command("feedback")
def feedback(
    ctx: typer.Context,
    endpoint: Annotated[str, typer.Argument(help="The endpoint whose predictions the labels are for.")],
    file: Annotated[Path, typer.Option("--file", "-f", help="Labels: a .csv or .parquet file.")],
    id_column: Annotated[str, typer.Option("--id-column", help="The column of ids.")] = "request_id",
    label_column: Annotated[str, typer.Option("--label-column", help="The column of labels.")] = "label",
    by: Annotated[
        str | None, typer.Option("--by", help="request_id or key [default: request_id if --id-column is request_id].")
    ] = None,
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Upload ground-truth labels in bulk; reports accepted, duplicate and unknown ids."""
    import pandas as pd

    from shipyard.errors import InvalidArgument

    cli = ctx_of(ctx)
    with reported(cli):
        if by not in (None, "request_id", "key"):
            raise InvalidArgument("--by must be request_id or key", {"field": "by"})
        suffix = file.suffix.lower()
        if not file.is_file():
            raise InvalidArgument(f"{file} is not a file", {"field": "file"})
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(file)
        elif suffix == ".csv":
            frame = pd.read_csv(file, dtype={id_column: str})
        else:
            raise InvalidArgument(f"{file}: expected a .csv or .parquet file", {"field": "file"})
        result = cli.client().monitoring.feedback(
            endpoint,
            frame,
            id_column=id_column,
            label_column=label_column,
            by=by,  # type: ignore[arg-type]
            project=project,
        )
        if json_out:
            print_json(result)
            return
        out.print(
            f"accepted {result.accepted} labels: {result.duplicates} duplicates (latest wins), "
            f"{result.unknown} unknown ids"
            + (f" (e.g. {', '.join(result.unknown_ids_sample)})" if result.unknown else ""),
            highlight=False,
            soft_wrap=True,
        )


# --- monitors ----------------------------------------------------------------------------


def _load_spec(path: Path) -> dict[str, Any]:
    from shipyard.errors import InvalidArgument

    text = path.read_text()
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if not isinstance(data, dict):
        raise InvalidArgument(f"{path}: a monitor spec is a mapping", {"field": "spec"})
    return data


def _show_monitor(m: MonitorOut) -> None:
    spec = m.spec
    reference = spec.reference
    print_fields(
        f"Monitor {m.name}",
        {
            "endpoint": m.endpoint,
            "window": spec.window,
            "reference": reference.dataset
            if reference.kind == "dataset"
            else f"training data ({reference.model or 'window model'})",
            "drift": "off" if spec.drift is None else "on",
            "quality": "on" if spec.quality else "off",
            "performance": spec.performance.task if spec.performance else "off",
            "schedule": m.schedule or "on demand",
            "next run": m.next_run_at.isoformat(timespec="seconds") if m.next_run_at else "-",
            "last": f"{m.last_status} at {m.last_run_at.isoformat(timespec='seconds')}" if m.last_run_at else "-",
        },
    )


def _show_result(r: MonitorResultOut) -> None:
    color = {"ok": "green", "warning": "yellow", "drift": "red", "error": "red"}.get(r.status, "white")
    out.print(
        f"[{color}]{r.status}[/] {r.monitor}: {r.n_rows} rows, {r.n_labeled} labelled — {_cell(r.message)}",
        soft_wrap=True,
    )
    if r.features:
        print_table(
            "Drift",
            ["column", "method", "statistic", "threshold", "drifted"],
            [
                [f["column"], f["method"], _cell(f["statistic"]), _cell(f["threshold"]), f["drifted"]]
                for f in r.features
            ],
        )
    if r.quality:
        failed = [c for c in r.quality["checks"] if not c["passed"]]
        if failed:
            print_table(
                "Quality failures",
                ["check", "column", "value", "threshold"],
                [[c["check"], c["column"] or "", _cell(c["value"]), _cell(c["threshold"])] for c in failed],
            )
    if r.performance and r.performance.get("rows"):
        print_table(
            "Performance", ["metric", "value"], [[_cell(k), _cell(v)] for k, v in r.performance["metrics"].items()]
        )
        bad = [c for c in r.performance["checks"] if not c["passed"]]
        if bad:
            print_table(
                "Performance failures",
                ["scope", "metric", "value", "limit"],
                [[_cell(c["scope"]), _cell(c["metric"]), _cell(c["value"]), _cell(c["threshold"])] for c in bad],
            )


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The monitor's name.")],
    endpoint: Annotated[str | None, typer.Option("--endpoint", "-e", help="The endpoint to watch.")] = None,
    window: Annotated[str | None, typer.Option("--window", "-w", help="30m, 1h, 24h, 7d or 'last N'.")] = None,
    reference_dataset: Annotated[
        str | None, typer.Option("--reference-dataset", help="A registered dataset [default: the training data].")
    ] = None,
    columns: Annotated[str | None, typer.Option("--columns", help="Comma-separated columns to compare.")] = None,
    performance: Annotated[
        str | None, typer.Option("--performance", help="classification or regression: compute performance.")
    ] = None,
    slices: Annotated[list[str] | None, typer.Option("--slice", help="Slice performance by this column.")] = None,
    schedule: Annotated[str | None, typer.Option("--schedule", help="Cron (UTC), e.g. '0 * * * *'.")] = None,
    spec_file: Annotated[
        Path | None, typer.Option("--spec", help="A YAML/JSON monitor spec; flags override its fields.")
    ] = None,
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Create a monitor: an endpoint's window vs a reference, for drift, quality and performance."""
    cli = ctx_of(ctx)
    with reported(cli):
        spec: dict[str, Any] = _load_spec(spec_file) if spec_file else {}
        if endpoint:
            spec["endpoint"] = endpoint
        if window:
            spec["window"] = window
        if reference_dataset:
            spec["reference"] = {"kind": "dataset", "dataset": reference_dataset}
        if columns:
            spec["columns"] = [c.strip() for c in columns.split(",") if c.strip()]
        if performance:
            spec["performance"] = {**(spec.get("performance") or {}), "task": performance}
            if slices:
                spec["performance"]["slices"] = list(slices)
        if schedule:
            spec["schedule"] = schedule
        spec.pop("name", None)
        endpoint_name = spec.pop("endpoint", None)
        if endpoint_name is None:
            from shipyard.errors import InvalidArgument

            raise InvalidArgument("--endpoint is required (or endpoint: in --spec)", {"field": "endpoint"})
        monitor = cli.client().monitoring.create_monitor(name, endpoint_name, project=project, **spec)
        if json_out:
            print_json(monitor)
            return
        _show_monitor(monitor)


@app.command("list")
def list_(
    ctx: typer.Context, project: Annotated[str | None, ProjectOption] = None, json_out: bool = JsonOption
) -> None:
    """List monitors with their schedule and last status."""
    cli = ctx_of(ctx)
    with reported(cli):
        items = list(cli.client().monitoring.iter_monitors(project=project))
        if json_out:
            print_json({"monitors": items})
            return
        print_table(
            "Monitors",
            ["name", "endpoint", "window", "schedule", "last status", "last run"],
            [
                [
                    m.name,
                    m.endpoint,
                    m.spec.window,
                    m.schedule or "on demand",
                    m.last_status or "-",
                    m.last_run_at.isoformat(timespec="seconds") if m.last_run_at else "-",
                ]
                for m in items
            ],
        )


@app.command("get")
def get(
    ctx: typer.Context,
    name: str,
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Show a monitor."""
    cli = ctx_of(ctx)
    with reported(cli):
        monitor = cli.client().monitoring.get_monitor(name, project=project)
        if json_out:
            print_json(monitor)
            return
        _show_monitor(monitor)


@app.command("delete")
def delete(ctx: typer.Context, name: str, project: Annotated[str | None, ProjectOption] = None) -> None:
    """Delete a monitor and its results."""
    cli = ctx_of(ctx)
    with reported(cli):
        cli.client().monitoring.delete_monitor(name, project=project)
        out.print(f"deleted monitor {name}")


@app.command("run")
def run(
    ctx: typer.Context,
    name: str,
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Run a monitor now; prints (and stores) its result."""
    cli = ctx_of(ctx)
    with reported(cli):
        result = cli.client().monitoring.run_monitor(name, project=project)
        if json_out:
            print_json(result)
            return
        _show_result(result)


@app.command("run-due")
def run_due(
    ctx: typer.Context,
    project: Annotated[str | None, ProjectOption] = None,
    all_projects: Annotated[bool, typer.Option("--all-projects", help="Every project the caller can see.")] = False,
    json_out: bool = JsonOption,
) -> None:
    """Run every monitor whose cron schedule is due (call it from cron, e.g. every minute)."""
    cli = ctx_of(ctx)
    with reported(cli):
        client = cli.client()
        names = [p.name for p in client.iter_projects()] if all_projects else [project]
        results = [r for p in names for r in client.monitoring.run_due(project=p)]
        if json_out:
            print_json({"results": results})
            return
        if not results:
            out.print("no monitor due")
        for r in results:
            out.print(f"{r.monitor}: {r.status} ({r.n_rows} rows) {_cell(r.message)}", highlight=False, soft_wrap=True)


@app.command("results")
def results(
    ctx: typer.Context,
    name: str,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Results shown, newest first.")] = 20,
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """A monitor's results over time, newest first (`run` or `--json` show the details)."""
    cli = ctx_of(ctx)
    with reported(cli):
        page = cli.client().monitoring.monitor_results(name, max_results=limit, project=project)
        if json_out:
            print_json({"results": page.items, "next_page_token": page.next_page_token})
            return
        print_table(
            f"Results of {name}",
            ["window end (UTC)", "status", "rows", "labels", "drift", "drifted", "quality", "perf"],
            [
                [
                    r.window_end.strftime("%Y-%m-%d %H:%M"),
                    r.status,
                    r.n_rows,
                    r.n_labeled,
                    "-" if r.drift_share is None else f"{r.drift_share:.2f}",
                    ", ".join(r.drifted_columns),
                    "-" if r.quality_passed is None else ("pass" if r.quality_passed else "fail"),
                    "-"
                    if not r.performance or not r.performance.get("rows")
                    else ("pass" if r.performance.get("passed") else "fail"),
                ]
                for r in page.items
            ],
        )


@app.command("report")
def report(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The monitor.")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="The HTML file to write.")] = Path("report.html"),
    results: Annotated[int, typer.Option("--results", "-n", help="Newest results in the time series.")] = 50,
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Write a monitor's self-contained HTML report (distributions, drift and performance over
    time, slices; plots inlined, opens offline). Rendered where the prediction log is: the server."""
    cli = ctx_of(ctx)
    with reported(cli):
        with err.status(f"rendering the report of monitor {name}…"):
            text = cli.client().monitoring.report(name, results=results, project=project)
        data = text.encode("utf-8")
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_bytes(data)
        if json_out:
            print_json({"path": str(out_path), "bytes": len(data)})
            return
        out.print(f"wrote the report of monitor {name} to {out_path} ({len(data) / 1024:.0f} KiB)", highlight=False)
