"""``shipyard serve``: run the inference data plane for one or more models.

Models named by a registry URI are resolved and downloaded (each file verified) through
the configured control plane — local mode or ``--server-url`` — before the server starts;
after that the server reads only the downloaded directories.
"""

from __future__ import annotations

import dataclasses
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
        list[str] | None,
        typer.Argument(
            help="Models to serve: models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN_ID/PATH, "
            "a model directory or file://DIR. Optional with --model-repository.",
            show_default=False,
        ),
    ] = None,
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
    inline_compute_ms: Annotated[
        float,
        typer.Option(
            help="A model call expected to take less than this runs on the event loop instead of the "
            "model's thread (0: never)."
        ),
    ] = 2.5,
    timeout_s: Annotated[float, typer.Option(help="Deadline per request (callers may lower it).")] = 60.0,
    grace_period: Annotated[float, typer.Option(help="Seconds to finish in-flight requests on SIGTERM.")] = 30.0,
    drain_delay: Annotated[
        float, typer.Option(help="Seconds to keep accepting (reporting not-ready) after SIGTERM.")
    ] = 0.0,
    http: Annotated[
        str,
        typer.Option(
            "--http",
            help="HTTP front: 'native' (fastest) or 'uvicorn' (uvicorn's own HTTP protocol and the ASGI app).",
        ),
    ] = "native",
    workers: Annotated[
        int,
        typer.Option(
            min=1, max=64, help="Worker processes sharing the models loaded once (forked after loading; fixed models)."
        ),
    ] = 1,
    model_repository: Annotated[
        Path | None,
        typer.Option(
            "--model-repository",
            help="A directory of model directories, each loadable by its name through POST "
            "/v2/repository/models/NAME/load.",
            show_default=False,
        ),
    ] = None,
    load: Annotated[
        list[str] | None,
        typer.Option("--load", help="Load this model of --model-repository at start (repeatable).", show_default=False),
    ] = None,
    load_all: Annotated[
        bool, typer.Option("--load-all", help="Load every model of --model-repository at start.")
    ] = False,
    pin: Annotated[
        list[str] | None,
        typer.Option("--pin", help="Never evict this model to fit the memory budget (repeatable).", show_default=False),
    ] = None,
    memory_budget_mb: Annotated[
        float | None,
        typer.Option(
            help="MiB the loaded models may take together; a load that does not fit evicts the least recently "
            "used idle, unpinned model, or is refused (507).",
            show_default=False,
        ),
    ] = None,
    allow_pickle: Annotated[
        bool, typer.Option(help="Load pickled (custom Python) models; they run their own code.")
    ] = True,
    prediction_log: Annotated[
        str | None,
        typer.Option(
            "--prediction-log",
            help="Log requests and responses as Parquet under this directory or fsspec URL (s3://bucket/prefix).",
            show_default=False,
        ),
    ] = None,
    prediction_log_sample_rate: Annotated[
        float, typer.Option(help="Share of requests logged (0 to 1), chosen by a hash of the request id.")
    ] = 1.0,
    prediction_log_project: Annotated[str, typer.Option(help="The project=... partition of the log.")] = "default",
    prediction_log_endpoint: Annotated[
        str | None, typer.Option(help="The endpoint=... partition of the log [default: the model's name].")
    ] = None,
) -> None:
    """Serve models over the Open Inference Protocol v2, KServe V1 and MLflow /invocations."""
    cli = ctx_of(ctx)
    with reported(cli):
        from shipyard.logging import configure_logging
        from shipyard.serving import ModelDirectory, ServingSettings, run_server, run_workers

        models = models or []
        names = name or []
        if len(names) > len(models):
            raise InvalidArgument(f"--name was given {len(names)} times for {len(models)} models", {"field": "name"})
        if not models and model_repository is None:
            raise InvalidArgument("give at least one MODEL, or --model-repository DIR", {"field": "models"})
        if (load or load_all) and model_repository is None:
            flag = "--load-all" if load_all else "--load"
            raise InvalidArgument(f"{flag} needs --model-repository DIR", {"field": flag.lstrip("-")})
        try:
            settings = ServingSettings(
                max_batch_size=max_batch_size,
                max_batch_wait_ms=max_batch_wait_ms,
                max_queue=max_queue,
                inline_compute_ms=inline_compute_ms,
                timeout_s=timeout_s,
                grace_period_s=grace_period,
                drain_delay_s=drain_delay,
                memory_budget_mb=memory_budget_mb,
                http=http,
                prediction_log={
                    "url": prediction_log,
                    "sample_rate": prediction_log_sample_rate,
                    "project": prediction_log_project,
                    "endpoint": prediction_log_endpoint,
                },
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            flag = "-".join(str(part) for part in first["loc"]).replace(
                "_", "-"
            )  # prediction_log.sample_rate: --prediction-log-sample-rate
            raise InvalidArgument(
                f"--{flag}: {first['msg']}", {"field": ".".join(str(part) for part in first["loc"])}
            ) from None
        sink = None
        if prediction_log:
            from shipyard.serving.predlog import open_sink

            sink = open_sink(settings.prediction_log, cli.settings.artifacts)  # s3:// uses artifacts.s3_*
            err.print(
                f"logging predictions to {prediction_log} (sample rate {prediction_log_sample_rate:g})",
                highlight=False,
            )
        configure_logging(cli.settings.logging)
        pinned = set(pin or [])
        served: list[ServedModel] = []
        for i, source in enumerate(models):
            model = _resolve(cli, source, names[i] if i < len(names) else None, allow_pickle)
            if model.name in pinned:
                model = dataclasses.replace(model, pinned=True)
            served.append(model)
            err.print(f"serving {model.name}/{model.version} from {source}", highlight=False)
        directory = None
        if model_repository is not None:
            directory = ModelDirectory(
                model_repository, allow_pickle=allow_pickle, pinned=pinned, load=load or [], load_all=load_all
            )
            on_demand = [n for n in directory.names() if n not in directory.at_start]
            err.print(
                f"model repository {model_repository}: loading {', '.join(directory.at_start) or 'nothing'} at start, "
                f"{len(on_demand)} more on request",
                highlight=False,
                soft_wrap=True,
            )
        unknown = sorted(pinned - {m.name for m in served} - set(directory.names() if directory else []))
        if unknown:
            raise InvalidArgument(f"--pin {unknown[0]}: no such model to serve", {"field": "pin"})
        if workers > 1 and not served and not (directory and directory.at_start):
            raise InvalidArgument(
                "--workers serves the models loaded at start (load and unload are refused): "
                "name a MODEL, or --load/--load-all from --model-repository",
                {"field": "workers"},
            )
        cli.close()  # from here on nothing needs the control plane
        if workers > 1:
            code = run_workers(
                served, settings, host=host, port=port, workers=workers, prediction_sink=sink, directory=directory
            )
        else:
            code = run_server(served, settings, host=host, port=port, prediction_sink=sink, directory=directory)
    if code:
        raise typer.Exit(code)
