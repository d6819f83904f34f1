from __future__ import annotations

import os
from typing import Annotated

import typer
import uvicorn

from shipyard.auth import bootstrap
from shipyard.cli.context import ctx_of, err, reported
from shipyard.settings import env_name


def server(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Bind address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8765).")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (default 1).")] = None,
) -> None:
    """Run the Shipyard API server (FastAPI on uvicorn)."""
    cli = ctx_of(ctx)
    cli.overrides.update({"server.host": host, "server.port": port, "server.workers": workers})
    with reported(cli):
        settings = cli.settings
        from shipyard.server.app import create_app

        cfg = settings.server
        err.print(
            f"Shipyard on http://{cfg.host}:{cfg.port}  database={settings.database_url.split('://')[0]}"
            f"  artifacts={settings.artifacts_url}",
            highlight=False,
        )
        app = create_app(settings)  # refuses to start on an out-of-date schema, with the fix
        hint = bootstrap.missing_users_hint(app.state.shipyard.db)
        if hint:
            err.print(f"hint: {hint}", highlight=False)
        if cfg.workers == 1:
            uvicorn.run(app, host=cfg.host, port=cfg.port, log_config=None, access_log=False)
            return
        app.state.shipyard.db.dispose()  # failed fast, once, before forking
        for key, value in cli.overrides.items():
            if value is not None:  # hand CLI flags to the workers through the settings layers
                os.environ[env_name(key)] = str(value)
        if cli.config_file:
            os.environ[env_name("config")] = str(cli.config_file)
        uvicorn.run(
            "shipyard.server.app:app_from_environment",
            factory=True,
            host=cfg.host,
            port=cfg.port,
            workers=cfg.workers,
            log_config=None,
            access_log=False,
        )
