from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shipyard.cli.context import JsonOption, ProjectOption, ctx_of, print_fields, print_json, print_table, reported

if TYPE_CHECKING:
    from shipyard.gates.schemas import GatePolicyOut, VerdictOut

app = typer.Typer(
    help="Promotion gates: rule policies on a model's alias, checks against a version, overrides.",
    no_args_is_help=True,
)


def _policy(out: GatePolicyOut, json_out: bool) -> None:
    if json_out:
        print_json(out)
        return
    print_table(f"Gate of {out.model}@{out.alias} ({out.digest[:12]})", ["rule"], [[r] for r in out.rules])


def _show(verdict: VerdictOut) -> None:
    state = "PASSED" if verdict.passed else ("OVERRIDDEN" if verdict.overridden else "FAILED")
    print_fields(
        f"Gate of @{verdict.alias} for {verdict.model} v{verdict.version}: {state}",
        {"verdict": verdict.id, "baseline version": verdict.baseline_version, "evaluation": verdict.evaluation_id},
    )
    print_table("Rules", ["status", "rule", "detail"], [[o.status, o.rule, o.message] for o in verdict.outcomes])


@app.command("set")
def set_policy(
    ctx: typer.Context,
    name: str,
    alias: str,
    policy: Annotated[Path, typer.Option("--file", "-f", help="File with the rules, one per line")],
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Gate ALIAS of model NAME with the rules in --file (needs registry.gate)."""
    cli = ctx_of(ctx)
    with reported(cli):
        _policy(cli.client().set_gate_policy(name, alias, policy.read_text(), project=project), json_out)


@app.command("show")
def show(
    ctx: typer.Context,
    name: str,
    alias: str,
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Show the gate policy of ALIAS of NAME."""
    cli = ctx_of(ctx)
    with reported(cli):
        _policy(cli.client().get_gate_policy(name, alias, project=project), json_out)


@app.command("check")
def check(
    ctx: typer.Context,
    name: str,
    version: int,
    alias: Annotated[str, typer.Option(help="The gated alias")] = "production",
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Check the gate of --alias against VERSION now (nothing moves); exit 1 when it fails."""
    cli = ctx_of(ctx)
    with reported(cli):
        verdict = cli.client().check_gate(name, version, alias, project=project)
        if json_out:
            print_json(verdict)
        else:
            _show(verdict)
    if not verdict.passed:
        raise typer.Exit(1)


@app.command("override")
def override(
    ctx: typer.Context,
    name: str,
    version: int,
    justification: Annotated[str, typer.Option(help="Why the failing rules are acceptable (recorded, audited)")],
    alias: Annotated[str, typer.Option(help="The gated alias")] = "production",
    project: Annotated[str | None, ProjectOption] = None,
    json_out: bool = JsonOption,
) -> None:
    """Let VERSION pass the failing gate of --alias (needs registry.gate: maintainer and up)."""
    cli = ctx_of(ctx)
    with reported(cli):
        verdict = cli.client().override_gate(name, version, alias, justification=justification, project=project)
        if json_out:
            print_json(verdict)
            return
        _show(verdict)
