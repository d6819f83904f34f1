"""``shipyard`` with the ``predict`` command, for the batch tests (in-process and as a process).

Run as ``python -m tests.batch.cli --home H predict ...``."""

from __future__ import annotations

import typer

from shipyard.cli.main import root
from shipyard.cli.predict_cmd import predict

app = typer.Typer(pretty_exceptions_enable=False, no_args_is_help=True)
app.callback()(root)
app.command("predict")(predict)

if __name__ == "__main__":
    app()
