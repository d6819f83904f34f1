from __future__ import annotations

import typer

from shipyard.cli.context import ctx_of, reported


def demo(ctx: typer.Context) -> None:
    """Walk the golden path on the embedded default (uses --home / SHIPYARD_HOME)."""
    cli = ctx_of(ctx)
    with reported(cli):
        from shipyard.demo import run_demo

        run_demo(cli.settings)
