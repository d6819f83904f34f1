"""``shipyard serve``: run the inference data plane for one or more models.

Models named by a registry URI are resolved and downloaded (each file verified) through
the configured control plane — local mode or ``--server-url`` — before the server starts;
after that the server reads only the downloaded directories.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from urllib.parse import unquote, urlsplit

import typer
from pydantic import ValidationError

from shipyard.cli.context import CliContext, ctx_of, err, reported
from shipyard.errors import InvalidArgument, NotFound

if TYPE_CHECKING:
    from shipyard.serving import ServedModel


def _local_path(source: str) -> Path:
    path = Path(unquote(urlsplit(source).path)) if source.startswith("file://") else Path(source).expanduser()
    if not path.is_dir():
        raise NotFound(f"no model directory at '{path}'", {"path": str(path)})
    return path


def _resolve(cli: CliContext, source: str, name: str | None, allow_pickle: bool) -> ServedModel:
    from shipyard.serving import ServedModel

    if source.startswith("models:/"):
        client = cli.client()
        version = client.resolve_model(source)
        pinned = f"models:/{version.model_name}/{version.version}"  # the alias may move meanwhile
        path = client.download_model(pinned)
        return ServedModel.from_path(
            path, name=name or version.model_name, version=str(version.version), uri=source, allow_pickle=allow_pickle
        )
    if source.startswith("runs:/"):
        path = cli.client().download_model(source)
        default = source.rstrip("/").rsplit("/", 1)[-1]
        return ServedModel.from_path(path, name=name or default, uri=source, allow_pickle=allow_pickle)
    return ServedModel.from_path(_local_path(source), name=name, uri=source, allow_pickle=allow_pickle)


def serve(
    ctx: typer.Context,
    models: Annotated[
        list[str],
        typer.Argument(
            help="Models to serve: models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN_ID/PATH, "
            "a model directory or file://DIR.",
            show_default=False,
        ),
    ],
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: any free port; the address is printed).")] = 8080,
    name: Annotated[
        list[str] | None,
        typer.Option("--name", help="Serve under this name (repeat once per MODEL, in order)."),
    ] = None,
    max_batch_size: Annotated[int, typer.Option(help="Requests coalesced per model call (1: off).")] = 32,
    max_batch_wait_ms: Annotated[
        float, typer.Option(help="Longest a batch waits for more requests while the model is busy.")
    ] = 2.0,
    max_queue: Annotated[int, typer.Option(help="Requests waiting per model before 429.")] = 256,
    timeout_s: Annotated[float, typer.Option(help="Deadline per request (callers may lower it).")] = 60.0,
    grace_period: Annotated[float, typer.Option(help="Seconds to finish in-flight requests on SIGTERM.")] = 30.0,
    drain_delay: Annotated[
        float, typer.Option(help="Seconds to keep accepting (reporting not-ready) after SIGTERM.")
    ] = 0.0,
    allow_pickle: Annotated[
        bool, typer.Option(help="Load pickled (custom Python) models; they run their own code.")
    ] = True,
) -> None:
    """Serve models over the Open Inference Protocol v2, KServe V1 and MLflow /invocations."""
    cli = ctx_of(ctx)
    with reported(cli):
        from shipyard.logging import configure_logging
        from shipyard.serving import ServingSettings, run_server

        names = name or []
        if len(names) > len(models):
            raise InvalidArgument(f"--name was given {len(names)} times for {len(models)} models", {"field": "name"})
        try:
            settings = ServingSettings(
                max_batch_size=max_batch_size,
                max_batch_wait_ms=max_batch_wait_ms,
                max_queue=max_queue,
                timeout_s=timeout_s,
                grace_period_s=grace_period,
                drain_delay_s=drain_delay,
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            raise InvalidArgument(
                f"--{str(first['loc'][0]).replace('_', '-')}: {first['msg']}", {"field": str(first["loc"][0])}
            ) from None
        configure_logging(cli.settings.logging)
        served: list[ServedModel] = []
        for i, source in enumerate(models):
            model = _resolve(cli, source, names[i] if i < len(names) else None, allow_pickle)
            served.append(model)
            err.print(f"serving {model.name}/{model.version} from {source}", highlight=False)
        cli.close()  # from here on nothing needs the control plane
        code = run_server(served, settings, host=host, port=port)
    if code:
        raise typer.Exit(code)
