from __future__ import annotations

import json
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
    from shipyard.deploy.schemas import Change, EndpointOut, RolloutOut, TrafficShare

app = typer.Typer(
    help="Inference endpoints: declarative specs, traffic, rollouts and rollback.",
    no_args_is_help=True,
)


def _value(value: Any) -> str:
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else json.dumps(value)


def _diff_lines(changes: list[Change]) -> list[str]:
    lines = []
    for c in changes:
        if c.op == "add":
            lines.append(f"[green]+ {c.path}: {_value(c.new)}[/]")
        elif c.op == "remove":
            lines.append(f"[red]- {c.path}: {_value(c.old)}[/]")
        else:
            lines.append(f"[yellow]~ {c.path}: {_value(c.old)} → {_value(c.new)}[/]")
    return lines


def _traffic(shares: list[TrafficShare]) -> str:
    return ", ".join(f"{s.model}/{s.version} {s.weight:g}%" for s in shares) or "-"


def _rollout_line(r: RolloutOut) -> str:
    step = f"step {min(r.step_index, r.steps)}/{r.steps}" if r.steps else ""
    return " ".join(p for p in (f"revision {r.revision}", r.phase, step, f"weight {r.weight:g}%") if p)


def _show(endpoint: EndpointOut) -> None:
    rollout = endpoint.rollout
    print_fields(
        f"Endpoint {endpoint.name}",
        {
            "project": endpoint.project,
            "phase": endpoint.phase,
            "revision": endpoint.revision,
            "strategy": endpoint.spec.strategy.type,
            "traffic": _traffic(endpoint.traffic),
            "stable": _traffic(endpoint.stable_routes),
            "desired": ", ".join(f"{r.model}/{r.version} {r.weight}%" for r in endpoint.spec.routes),
            "shadow": ", ".join(f"{s.model}/{s.version} at {s.sample_rate:g}" for s in endpoint.spec.shadow) or "-",
            "replicas": f"{endpoint.spec.replicas.min}-{endpoint.spec.replicas.max}",
            "rollout": _rollout_line(rollout) if rollout else "-",
            "reason": rollout.message if rollout else "",
        },
    )


@app.command("apply")
def apply(
    ctx: typer.Context,
    file: Annotated[Path, typer.Option("--file", "-f", help="The endpoint spec (YAML or JSON).")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the changes; apply nothing.")] = False,
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Create or update an endpoint from a spec file: shows the diff, then applies it (idempotent)."""
    from shipyard.deploy.spec import load_spec_file

    cli = ctx_of(ctx)
    with reported(cli):
        spec = load_spec_file(file)
        client = cli.client()
        preview = client.apply_endpoint(spec, dry_run=True, project=project)
        result = preview if dry_run or preview.outcome == "unchanged" else None
        if result is None:
            result = client.apply_endpoint(spec, project=project)
        if json_out:
            print_json(result)
            return
        if preview.outcome == "unchanged":
            out.print(f"endpoint {spec.name}: unchanged")
            return
        out.print(f"endpoint {spec.name}: {len(preview.changes)} change(s)", highlight=False)
        for line in _diff_lines(preview.changes):
            out.print(line, highlight=False, soft_wrap=True)
        if preview.outcome == "retried":
            out.print("  (same spec as the aborted revision: applying it retries the rollout)")
        if dry_run:
            out.print(f"dry run: would be {preview.outcome}; nothing applied")
            return
        assert result.endpoint is not None
        rollout = result.endpoint.rollout
        out.print(
            f"{result.outcome} revision {result.endpoint.revision}: "
            + (f"{rollout.phase} ({rollout.message})" if rollout else result.endpoint.phase),
            highlight=False,
            soft_wrap=True,
        )


@app.command("list")
def list_(
    ctx: typer.Context, project: Annotated[str | None, ProjectOption] = None, json_out: bool = JsonOption
) -> None:
    """List endpoints with their traffic and rollout phase."""
    cli = ctx_of(ctx)
    with reported(cli):
        items = list(cli.client().iter_endpoints(project=project))
        if json_out:
            print_json({"endpoints": items})
            return
        print_table(
            "Endpoints",
            ["name", "phase", "revision", "traffic", "updated"],
            [
                [e.name, e.phase, e.revision, _traffic(e.traffic), e.updated_at.isoformat(timespec="seconds")]
                for e in items
            ],
        )


@app.command("get")
def get(
    ctx: typer.Context,
    name: str,
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Show an endpoint: desired routes, traffic now, the current rollout and why it is where it is."""
    cli = ctx_of(ctx)
    with reported(cli):
        endpoint = cli.client().get_endpoint(name, project=project)
        if json_out:
            print_json(endpoint)
            return
        _show(endpoint)


@app.command("history")
def history(
    ctx: typer.Context,
    name: str,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Revisions to show (newest first).")] = 20,
    transitions: Annotated[bool, typer.Option("--transitions", help="Every transition of each rollout.")] = False,
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Revisions of an endpoint and how each rollout went, newest first."""
    cli = ctx_of(ctx)
    with reported(cli):
        rollouts = cli.client().endpoint_history(name, max_results=limit, project=project).items
        if json_out:
            print_json({"rollouts": rollouts})
            return
        print_table(
            f"History of {name}",
            ["revision", "kind", "strategy", "phase", "to", "by", "at", "reason"],
            [
                [
                    r.revision,
                    r.kind,
                    r.strategy,
                    r.phase,
                    _traffic(r.to_routes),
                    r.created_by,
                    r.created_at.isoformat(timespec="seconds"),
                    r.message,
                ]
                for r in rollouts
            ],
        )
        if transitions:
            print_table(
                "Transitions",
                ["revision", "at", "from", "to", "step", "weight", "by", "reason"],
                [
                    [
                        r.revision,
                        t.at.isoformat(timespec="seconds"),
                        t.from_phase or "",
                        t.to_phase,
                        t.step_index,
                        f"{t.weight:g}%",
                        t.actor,
                        t.reason,
                    ]
                    for r in rollouts
                    for t in r.transitions
                ],
            )


@app.command("rollback")
def rollback(
    ctx: typer.Context,
    name: str,
    reason: Annotated[str, typer.Option("--reason", "-m", help="Why (recorded).")] = "",
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Send all traffic back to the last stable version: aborts a running rollout, or with
    none running, returns to the routes that were stable before."""
    cli = ctx_of(ctx)
    with reported(cli):
        endpoint = cli.client().rollback_endpoint(name, reason=reason, project=project)
        if json_out:
            print_json(endpoint)
            return
        out.print(f"{name}: traffic {_traffic(endpoint.traffic)}", highlight=False)
        if endpoint.rollout is not None:
            out.print(f"  {_rollout_line(endpoint.rollout)}: {endpoint.rollout.message}", highlight=False)


@app.command("promote")
def promote(
    ctx: typer.Context,
    name: str,
    full: Annotated[bool, typer.Option("--full", help="Skip every remaining step.")] = False,
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Resume a rollout waiting at a pause or analysis (--full: finish it now)."""
    cli = ctx_of(ctx)
    with reported(cli):
        endpoint = cli.client().promote_endpoint(name, full=full, project=project)
        if json_out:
            print_json(endpoint)
            return
        out.print(f"{name}: traffic {_traffic(endpoint.traffic)}", highlight=False)
        if endpoint.rollout is not None:
            out.print(f"  {_rollout_line(endpoint.rollout)}: {endpoint.rollout.message}", highlight=False)


# `shipyard endpoints serve` lives in its own module (the gateway and the controller).
from shipyard.cli.endpoints_serve import serve_endpoint  # noqa: E402

app.command("serve")(serve_endpoint)


@app.command("render")
def render(
    ctx: typer.Context,
    name: Annotated[
        str | None, typer.Argument(help="The endpoint (read with its traffic from the control plane).")
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Render this spec file instead (no server needed).")
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write one file per object here (else YAML to stdout).")
    ] = None,
    image: Annotated[
        str | None, typer.Option(help="The Shipyard container image (default: shipyard:<this version>).")
    ] = None,
    namespace: Annotated[str | None, typer.Option(help="metadata.namespace of every object.")] = None,
    registry_url: Annotated[
        str | None,
        typer.Option(help="The control plane's URL as seen from the cluster (default: http://shipyard:8765)."),
    ] = None,
    token_secret: Annotated[
        str | None,
        typer.Option(help="Secret whose key 'token' holds the API token ('': none) (default: shipyard-client-token)."),
    ] = None,
    validate: Annotated[
        bool, typer.Option("--validate/--no-validate", help="Check against the Kubernetes schemas.")
    ] = True,
    kubernetes_version: Annotated[
        str | None, typer.Option(help="Kubernetes version whose schemas to check (default: 1.30).")
    ] = None,
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Render Kubernetes manifests (Deployments, Services, HPAs, ...) for an endpoint;
    see docs/kubernetes.md. Nothing is applied to a cluster."""
    import sys

    from shipyard.deploy import kubernetes
    from shipyard.deploy.spec import load_spec_file
    from shipyard.errors import InvalidArgument

    cli = ctx_of(ctx)
    with reported(cli):
        traffic: list[TrafficShare] | None = None
        if file is not None:
            spec = load_spec_file(file)
            if name is not None and name != spec.name:
                raise InvalidArgument(f"NAME '{name}' differs from the spec's name '{spec.name}'", {"field": "name"})
            if project and spec.project and project != spec.project:
                raise InvalidArgument(
                    f"the spec names project '{spec.project}' but project '{project}' was asked for",
                    {"field": "project"},
                )
            target = project or spec.project or cli.settings.client.project
        elif name is not None:
            endpoint = cli.client().get_endpoint(name, project=project)
            spec, traffic, target = endpoint.spec, endpoint.traffic, endpoint.project
        else:
            raise InvalidArgument("give an endpoint NAME, or -f SPEC_FILE", {"field": "name"})
        options: dict[str, Any] = {}  # what is not given keeps render()'s default
        if image:
            options["image"] = image
        if registry_url:
            options["registry_url"] = registry_url
        if token_secret is not None:
            options["token_secret"] = token_secret or None
        manifests = kubernetes.render(spec, project=target, namespace=namespace, traffic=traffic, **options)
        version = kubernetes_version or kubernetes.DEFAULT_KUBERNETES_VERSION
        checked = kubernetes.validate(manifests, version) if validate else None
        gaps = kubernetes.unroutable(manifests)
        if gaps:
            err.print(
                f"warning: the gateway's --backend-url template does not reach {', '.join(gaps)} "
                "(model names that are not DNS labels); see docs/kubernetes.md",
                highlight=False,
                soft_wrap=True,
            )
        paths = kubernetes.write(manifests, out_dir) if out_dir is not None else None
        if json_out:
            print_json({"manifests": manifests, "files": paths, "validated_against": checked})
        elif paths is not None:
            note = f", valid for Kubernetes {checked}" if checked else ""
            out.print(f"wrote {len(paths)} objects to {out_dir}{note}", highlight=False, soft_wrap=True)
            for path in paths:
                out.print(f"  {path.name}", highlight=False)
        else:
            sys.stdout.write(kubernetes.to_yaml(manifests))
