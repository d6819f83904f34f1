"""The one place where Shipyard pickles and unpickles models.

Unpickling runs whatever code the file names, so :func:`unpickle` refuses unless the
caller explicitly allows it; every model format that needs pickle goes through here."""

from __future__ import annotations

import bz2
import gzip
import lzma
import pickle
from pathlib import Path
from typing import IO, Any

from shipyard.errors import InvalidArgument, PermissionDenied, PreconditionFailed

# MLflow's ``python_model_compression`` suffixes.
_OPENERS: dict[str, Any] = {".xz": lzma.open, ".bz2": bz2.open, ".gz": gzip.open}


def dump(obj: Any, path: Path) -> str:
    """Pickle ``obj`` to ``path`` with cloudpickle when installed, else pickle; return which."""
    try:
        import cloudpickle

        pickler: Any = cloudpickle
        name = "cloudpickle"
    except ImportError:
        pickler = pickle
        name = "pickle"
    try:
        with path.open("wb") as fh:
            pickler.dump(obj, fh, protocol=pickle.DEFAULT_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise InvalidArgument(f"could not pickle the {type(obj).__name__} model: {exc}", {"field": "model"}) from exc
    return name


def unpickle(path: Path, *, pickler: str, allow_pickle: bool, what: str = "model") -> Any:
    """Load a pickle written by ``pickler`` ("pickle" or "cloudpickle"), if allowed."""
    if not allow_pickle:
        raise PermissionDenied(
            f"{what} file '{path.name}' is a pickle, and unpickling can run arbitrary code; "
            "load it with allow_pickle=True only if you trust where it came from",
            {"path": path.name, "serialization": "pickle"},
        )
    if pickler not in ("pickle", "cloudpickle"):
        raise InvalidArgument(f"unknown pickler '{pickler}'", {"field": "pickler"})
    if pickler == "cloudpickle":
        try:
            import cloudpickle  # noqa: F401  (its pickles reference cloudpickle's helpers)
        except ImportError as exc:
            raise PreconditionFailed(
                f"{what} file '{path.name}' was written by cloudpickle, which is not installed",
                {"module": "cloudpickle"},
            ) from exc
    opener = _OPENERS.get(path.suffix, open)
    try:
        fh: IO[bytes]
        with opener(path, "rb") as fh:
            return pickle.load(fh)
    except ModuleNotFoundError as exc:
        raise PreconditionFailed(
            f"{what} file '{path.name}' needs the module '{exc.name}', which is not installed here",
            {"path": path.name, "module": exc.name},
        ) from exc
    except (pickle.UnpicklingError, AttributeError, EOFError, ImportError, OSError) as exc:
        raise InvalidArgument(f"could not unpickle {what} file '{path.name}': {exc}", {"path": path.name}) from exc
