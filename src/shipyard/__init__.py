"""Shipyard: the paved road from a tracked experiment to a governed production model.

The public surface: :class:`Client` for explicit use, and module-level helpers for the
common case (``import shipyard as sy; sy.set_project("fraud")``).
"""

__version__ = "0.1.0"

from shipyard import errors
from shipyard.client import Client
from shipyard.fluent import (
    ActiveRun,
    LoggedModel,
    active_run,
    end_run,
    flush,
    load_model,
    log_artifact,
    log_artifacts,
    log_input,
    log_metric,
    log_metrics,
    log_model,
    log_param,
    log_params,
    register_model,
    set_alias,
    set_experiment,
    set_tag,
    set_tags,
    start_run,
)
from shipyard.sdk import connect, get_client, get_project, set_project

__all__ = [
    "ActiveRun",
    "Client",
    "LoggedModel",
    "__version__",
    "active_run",
    "connect",
    "end_run",
    "errors",
    "flush",
    "get_client",
    "get_project",
    "load_model",
    "log_artifact",
    "log_artifacts",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "register_model",
    "set_alias",
    "set_experiment",
    "set_project",
    "set_tag",
    "set_tags",
    "start_run",
]
