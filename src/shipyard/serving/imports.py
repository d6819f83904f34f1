"""Loading a model without the libraries it never uses (``ServingSettings.lean_imports``).

scikit-learn imports pandas when it is imported (``sklearn.utils.fixes``: ``try: import
pandas``), only so that it could recognise a DataFrame input; pandas 3 in turn imports
pyarrow. A server whose model takes tensors never sees a DataFrame, yet paid for both:
``import sklearn.linear_model`` grows a process to 213 MB of RSS, 132 MB when pandas cannot
be imported. scikit-learn recognises DataFrames by looking pandas up in ``sys.modules`` (not
imported: not a DataFrame) and keeps its ``fixes.pd`` for nothing else, so an estimator
loaded while pandas is out of reach works as usual, and pandas can still be imported later
by whatever needs it (a DataFrame request, a second model with named columns).

So while such a model loads and warms up, :func:`loading` makes ``import pandas`` fail *on
the loading thread only* (a finder at the front of ``sys.meta_path`` raising
:class:`ModuleNotFoundError`; other threads, such as the event loop answering another
model's requests, import as usual). It applies when :func:`defers_pandas` says so: a
Shipyard-format scikit-learn or ONNX model whose inputs are tensors (its signature, or with
no signature an ndarray input example), and pandas not imported yet. XGBoost and LightGBM
are left out: they remember at import that pandas was missing, which would break a model
with named columns loaded later into the same server; so are custom Python models, whose
own code may import pandas. A load that needs pandas all the same is retried with it; one
that tried to import it and did without (``SimpleImputer``) gets it imported before the model
is ready, so that its first request does not import it on the event loop.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType
from typing import TypeVar

from shipyard.logging import get_logger
from shipyard.models.manifest import ModelManifest
from shipyard.models.signature import TensorSpec

log = get_logger("shipyard.serving")
T = TypeVar("T")
DEFERRED = frozenset({"pandas"})
LEAN_FLAVORS = frozenset({"sklearn", "onnx"})


def defers_pandas(manifest: ModelManifest) -> bool:
    """Whether ``manifest``'s model can load without pandas (see the module docstring)."""
    if any(name in sys.modules for name in DEFERRED):
        return False  # already paid for
    if manifest.source_format != "shipyard" or manifest.flavor not in LEAN_FLAVORS:
        return False
    signature = manifest.signature
    if signature is not None:
        return bool(signature.inputs) and all(isinstance(spec, TensorSpec) for spec in signature.inputs)
    return manifest.input_example is not None and manifest.input_example.type == "ndarray"


def manifest_defers_pandas(directory: Path | None) -> bool:
    """:func:`defers_pandas` for a model directory; False when its manifest cannot be read."""
    if directory is None:
        return False
    from shipyard.errors import ShipyardError
    from shipyard.models.service import read_manifest

    try:
        return defers_pandas(read_manifest(directory))
    except (ShipyardError, OSError, ValueError):
        return False  # the load itself reports what is wrong with the directory


class _Refuse(importlib.abc.MetaPathFinder):
    """Fails the import of ``names`` (and their submodules) on one thread; ``refused``
    lists the imports it failed."""

    def __init__(self, names: frozenset[str], thread: int) -> None:
        self.names = names
        self.thread = thread
        self.refused: list[str] = []

    def find_spec(self, fullname: str, path: object = None, target: ModuleType | None = None) -> ModuleSpec | None:
        if threading.get_ident() == self.thread and fullname.partition(".")[0] in self.names:
            self.refused.append(fullname)
            raise ModuleNotFoundError(f"No module named {fullname!r} (deferred while a model loads)", name=fullname)
        return None


@contextmanager
def without(names: frozenset[str] = DEFERRED) -> Iterator[_Refuse]:
    """While inside, importing any of ``names`` fails on this thread."""
    finder = _Refuse(names, threading.get_ident())
    sys.meta_path.insert(0, finder)
    try:
        yield finder
    finally:
        sys.meta_path.remove(finder)


def _deferred_import(exc: BaseException) -> str | None:
    """The deferred module whose refusal caused ``exc``, if one did. Libraries re-raise a failed
    import as their own error (scikit-learn's ``set_output(transform="pandas")``: a bare
    ``ImportError``; :func:`shipyard.models.flavors.base.require`), so the chain is searched."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ImportError) and (current.name or "").partition(".")[0] in DEFERRED:
            return current.name
        current = current.__cause__ or current.__context__
    return None


def loading(load: Callable[[], T], *, lean: bool, label: str, warm_up: Callable[[T], object] | None = None) -> T:
    """``load()`` then ``warm_up(model)``, without pandas when ``lean``; retried with it if
    either asked for it.

    A warm-up that tried to import pandas and went on without it (scikit-learn's
    ``SimpleImputer`` does, on every call) means every request would try too, and the first
    would import it on the event loop: pandas is imported here instead, before the model is
    ready. (Attempts while the model's libraries are imported, such as scikit-learn's own,
    are what lean imports are for.)"""

    def run() -> T:
        model = load()
        if warm_up is not None:
            warm_up(model)
        return model

    if not lean:
        return run()
    try:
        with without() as finder:
            model = load()
            loaded = len(finder.refused)
            if warm_up is not None:
                warm_up(model)
    except Exception as exc:
        module = _deferred_import(exc)
        if module is None:
            raise
        log.info("model needs pandas; loading it with pandas", model=label, module=module)
        return run()
    if tried := finder.refused[loaded:]:
        log.info("model tries to import pandas per call; importing it before its first request", model=label)
        for name in dict.fromkeys(n.partition(".")[0] for n in tried):
            with contextlib.suppress(ImportError):  # the model does without it
                importlib.import_module(name)
    return model


__all__ = ["DEFERRED", "LEAN_FLAVORS", "defers_pandas", "loading", "manifest_defers_pandas", "without"]
