"""Shipyard: the paved road from a tracked experiment to a governed production model.

The public surface: :class:`Client` for explicit use, and module-level helpers for the
common case (``import shipyard as sy; sy.set_project("fraud")``).

The SDK is imported on first use (PEP 562), so ``import shipyard.serving`` and the CLI
do not pay for the client, the stores and their libraries unless they use them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from shipyard import errors

__version__ = "0.1.0"

if TYPE_CHECKING:
    from shipyard.client import Client
    from shipyard.evaluation.evaluate import evaluate
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

_FLUENT = (
    "ActiveRun",
    "LoggedModel",
    "active_run",
    "end_run",
    "flush",
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
    "set_tag",
    "set_tags",
    "start_run",
)
# Where each lazily imported name of the public surface lives.
_LAZY = {
    "Client": "shipyard.client",
    "evaluate": "shipyard.evaluation.evaluate",
    **dict.fromkeys(_FLUENT, "shipyard.fluent"),
    **dict.fromkeys(("connect", "get_client", "get_project", "set_project"), "shipyard.sdk"),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'shipyard' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "ActiveRun",
    "Client",
    "LoggedModel",
    "__version__",
    "active_run",
    "connect",
    "end_run",
    "errors",
    "evaluate",
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
