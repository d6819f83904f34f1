"""``shipyard endpoints serve NAME``: the endpoint's gateway and controller in one process."""

from __future__ import annotations

from typing import Annotated

import typer

from shipyard.cli.context import ProjectOption, ctx_of, err, reported
from shipyard.errors import InvalidArgument
from shipyard.settings import child_environment


def serve_endpoint(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The endpoint to serve.", show_default=False)],
    project: Annotated[str | None, ProjectOption] = None,
    host: Annotated[str, typer.Option(help="Bind address of the gateway.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the gateway (0: any free port; the address is printed).")] = 8080,
    tick: Annotated[float, typer.Option(help="Seconds between the controller's looks.", min=0.05, max=60)] = 0.25,
    scale_down_delay: Annotated[
        float, typer.Option(help="Seconds a version keeps running after it stops serving (instant switch-back).", min=0)
    ] = 30.0,
    grace_period: Annotated[
        float,
        typer.Option(
            help="Seconds to finish in-flight requests on SIGTERM (the gateway and each model server).", min=0
        ),
    ] = 30.0,
    prediction_log: Annotated[
        str | None,
        typer.Option(
            "--prediction-log",
            help="Where the model servers log predictions [default: monitoring.prediction_log_url, "
            "else $SHIPYARD_HOME/prediction-log]; 'off' logs nothing.",
            show_default=False,
        ),
    ] = None,
    backend_url: Annotated[
        str | None,
        typer.Option(
            help="Do not start model servers: route to servers at this URL template, e.g. "
            "'http://{service}' (the Kubernetes Service of each version) or 'http://{endpoint}-{model}-v{version}'.",
            show_default=False,
        ),
    ] = None,
    serve_arg: Annotated[
        list[str] | None,
        typer.Option("--serve-arg", help="Extra argument for each `shipyard serve` (repeatable).", show_default=False),
    ] = None,
) -> None:
    """Run an endpoint: start a model server per version, route traffic by the endpoint's
    weights, mirror shadows, and carry rollouts forward (pauses, analysis, rollback)."""
    cli = ctx_of(ctx)
    with reported(cli):
        from shipyard.deploy.backends import Backends, LocalProcesses, StaticBackends
        from shipyard.deploy.controller import ControllerSettings
        from shipyard.deploy.runner import run_endpoint
        from shipyard.logging import configure_logging

        settings = cli.settings
        client = cli.client()
        target = client.get_endpoint(name, project=project)  # fails early, naming what is wrong
        backends: Backends
        if backend_url is not None:
            if "{service}" not in backend_url and ("{model}" not in backend_url or "{version}" not in backend_url):
                raise InvalidArgument(
                    "--backend-url must contain {service} (the version's Kubernetes Service name), or {model} "
                    "and {version} (and may contain {endpoint})",
                    {"field": "backend_url"},
                )
            backends = StaticBackends(endpoint=name, url_template=backend_url)
        else:
            log_url: str | None = prediction_log or settings.monitoring.prediction_log_url
            if log_url is None:
                log_url = str(settings.home / "prediction-log")
            backends = LocalProcesses(
                endpoint=name,
                project=target.project,
                env=child_environment(settings),
                serve_args=serve_arg or [],
                prediction_log=None if log_url == "off" else log_url,
                grace_period_s=grace_period,
            )
        configure_logging(settings.logging)
        err.print(f"endpoint {target.project}/{name}: revision {target.revision}, {target.phase}", highlight=False)
        code = run_endpoint(
            client,
            name,
            project=project,
            backends=backends,
            host=host,
            port=port,
            settings=ControllerSettings(tick_s=tick, scale_down_delay_s=scale_down_delay),
            grace_period_s=grace_period,
        )
        raise typer.Exit(code)


__all__ = ["serve_endpoint"]
