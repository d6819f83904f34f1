"""What every flavor implements, and small helpers they share."""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from shipyard.errors import InvalidArgument, PreconditionFailed


class SavedFlavor(BaseModel):
    """What :meth:`Flavor.save` wrote: the manifest's flavor-specific fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_file: str
    serialization: str
    unsafe: bool = False
    info: dict[str, Any] = Field(default_factory=dict)
    packages: list[str] = Field(default_factory=list, description="Distributions to pin in requirements.")


class Flavor(ABC):
    """One kind of model: how to recognise, save, load and call it.

    ``load`` returns the native object (``LoadedModel.raw``); ``predict`` calls it with
    data that already passed the signature, and ``info`` is the manifest's ``flavor_info``.
    """

    name: ClassVar[str]

    @abstractmethod
    def matches(self, obj: Any) -> bool:
        """Whether ``obj`` is a model of this flavor. Never imports a heavy library itself."""

    @abstractmethod
    def save(self, obj: Any, directory: Path) -> SavedFlavor:
        """Write ``obj`` into the (existing, empty) ``directory``."""

    @abstractmethod
    def load(self, directory: Path, model_file: str, info: Mapping[str, Any], *, allow_pickle: bool) -> Any:
        """Read the native model object back."""

    @abstractmethod
    def predict(self, raw: Any, data: Any, info: Mapping[str, Any], params: Mapping[str, Any] | None) -> Any:
        """Call the model."""


def module_roots(obj: Any) -> set[str]:
    """Top-level package names of ``obj``'s class and its bases (``{"sklearn", "builtins"}``)."""
    return {cls.__module__.split(".", 1)[0] for cls in type(obj).__mro__}


def require(module: str, distribution: str) -> ModuleType:
    """Import an optional library, or explain which package to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise PreconditionFailed(
            f"this needs the '{distribution}' package: pip install 'shipyard[models]'",
            {"module": module, "distribution": distribution},
        ) from exc


def no_params(flavor: str, params: Mapping[str, Any] | None) -> None:
    if params:
        raise InvalidArgument(f"{flavor} models take no params", {"field": "params"})


def qualified_name(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"
