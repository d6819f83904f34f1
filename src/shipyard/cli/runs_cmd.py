from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from shipyard.cli.context import JsonOption, ProjectOption, ctx_of, print_fields, print_json, print_table, reported
from shipyard.tracking.schemas import RunOut

app = typer.Typer(help="Runs: search, show, compare, download artifacts.", no_args_is_help=True)


def _metric(run: RunOut, key: str) -> str:
    point = run.metrics.get(key)
    if point is None:
        return ""
    return "NaN" if math.isnan(point.value) else f"{point.value:.6g}"


@app.command("search")
def search(
    ctx: typer.Context,
    filter: Annotated[
        str | None, typer.Option("--filter", "-f", help="e.g. \"metrics.auc > 0.9 and params.lr = '0.01'\"")
    ] = None,
    order_by: Annotated[
        list[str] | None, typer.Option("--order-by", "-o", help="e.g. 'metrics.auc DESC' (repeatable)")
    ] = None,
    experiment: Annotated[
        list[int] | None, typer.Option("--experiment", "-e", help="Experiment id (repeatable).")
    ] = None,
    view: Annotated[str, typer.Option(help="active, deleted or all")] = "active",
    project: Annotated[str | None, ProjectOption] = None,
    max_results: Annotated[int | None, typer.Option(help="Page size.")] = None,
    page_token: Annotated[str | None, typer.Option(help="Token from the previous page.")] = None,
    json_out: bool = JsonOption,
) -> None:
    """Search runs (filter language: AND, OR, parentheses, LIKE, IN, IS NULL)."""
    cli = ctx_of(ctx)
    with reported(cli):
        page = cli.client().search_runs(
            experiment_ids=experiment,
            filter=filter,
            order_by=order_by,
            view=view,
            max_results=max_results,
            page_token=page_token,
            project=project,
        )
        if json_out:
            print_json({"runs": page.items, "next_page_token": page.next_page_token})
            return
        keys = sorted({k for r in page.items for k in r.metrics})[:6]
        print_table(
            "Runs",
            ["id", "name", "status", "experiment", *keys],
            [[r.id, r.name, r.status.value, r.experiment_id, *[_metric(r, k) for k in keys]] for r in page.items],
        )
        if page.next_page_token:
            typer.echo(f"more: --page-token {page.next_page_token}")


@app.command("show")
def show(
    ctx: typer.Context, run_id: str, project: Annotated[str | None, ProjectOption] = None, json_out: bool = JsonOption
) -> None:
    """Show a run: status, params, latest metrics, tags, inputs."""
    cli = ctx_of(ctx)
    with reported(cli):
        run = cli.client().get_run(run_id, project=project)
        if json_out:
            print_json(run)
            return
        print_fields(
            f"Run {run.name}",
            {
                "id": run.id,
                "experiment": run.experiment_id,
                "status": run.status.value,
                "user": run.user_id,
                "start": run.start_time.isoformat(timespec="seconds"),
                "end": run.end_time.isoformat(timespec="seconds") if run.end_time else "",
                "git commit": run.source.get("git_commit", ""),
                "inputs": ", ".join(f"{i.dataset.name}@{i.dataset.digest[:12]} ({i.context})" for i in run.inputs),
            },
        )
        print_table("Params", ["key", "value"], sorted(run.params.items()))
        print_table(
            "Metrics (latest)",
            ["key", "value", "step"],
            [[k, _metric(run, k), m.step] for k, m in sorted(run.metrics.items())],
        )
        if run.tags:
            print_table("Tags", ["key", "value"], sorted(run.tags.items()))


@app.command("compare")
def compare(
    ctx: typer.Context,
    run_ids: Annotated[list[str], typer.Argument(help="Two or more run ids.")],
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Runs side by side: params (differences marked), latest metrics, tags."""
    cli = ctx_of(ctx)
    with reported(cli):
        cmp = cli.client().compare_runs(run_ids, project=project)
        if json_out:
            print_json(cmp)
            return
        names = [f"{r['name']} ({r['id'][:8]})" for r in cmp.runs]
        ids = [r["id"] for r in cmp.runs]
        rows: list[list[object]] = []
        for key, values in cmp.params.items():
            mark = "≠ " if key in cmp.differing_params else ""
            rows.append([f"{mark}params.{key}", *[values.get(i) or "" for i in ids]])
        for key, mvalues in cmp.metrics.items():
            rows.append([f"metrics.{key}", *["" if mvalues.get(i) is None else f"{mvalues[i]:.6g}" for i in ids]])
        for key, tvalues in cmp.tags.items():
            rows.append([f"tags.{key}", *[tvalues.get(i) or "" for i in ids]])
        print_table("Comparison", ["", *names], rows)


@app.command("download")
def download(
    ctx: typer.Context,
    run_id: str,
    path: Annotated[str, typer.Argument(help="Artifact file or directory of the run.")],
    dest: Annotated[Path, typer.Option(help="Local directory.")] = Path("."),
    project: Annotated[str | None, ProjectOption] = None,
) -> None:
    """Download a run's artifact (file or directory), verifying every sha256."""
    cli = ctx_of(ctx)
    with reported(cli):
        out = cli.client().download_artifacts(run_id, path, dest, project=project)
        typer.echo(f"wrote {out}")
