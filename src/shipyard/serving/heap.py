"""The garbage collector around loaded models (``ServingSettings.gc_freeze``, on by default).

A loaded model and everything imported to run it (scikit-learn, scipy, pandas: about a
million objects) live as long as the server. CPython's cyclic collector would still walk
them on every full collection, a pause of tens of milliseconds that lands on whichever
request is running, and, in forked workers, a write to every object's header that un-shares
its memory page. So once a model is loaded and warmed up, and before it is marked ready,
:func:`settle` collects once and freezes what is left (``gc.freeze()``): the collector never
looks at those objects again. Requests' short-lived objects are collected as before.

Frozen objects are never collected, so unloading a model first unfreezes (:func:`release`):
its reference cycles are collected, and what is still alive is frozen again.

A server process also collects its youngest generation less often
(``ServingSettings.gc_threshold``, 10,000 allocations instead of CPython's 700,
:func:`configure`): a request's objects die by reference counting, so the frequent young
collections found almost nothing.

Only the processes ``shipyard serve`` runs do either (they call :func:`configure` first); an
app embedded in another process (a test, a notebook) leaves that process's collector alone:
freezing would keep the host's own garbage cycles for good, and a full collection of a big
host heap per load took seconds (the repository tests: 85 s in the full suite, 13 s alone).
"""

from __future__ import annotations

import gc

from shipyard.serving.settings import ServingSettings

_serving_process = False  # set by configure(): this process is a model server's


def configure(settings: ServingSettings) -> None:
    """Tune the collector of a process that serves (``shipyard serve``, each worker), and
    let :func:`settle` and :func:`release` act in it."""
    global _serving_process
    _serving_process = True
    if settings.gc_threshold is not None:
        _, older, oldest = gc.get_threshold()
        gc.set_threshold(settings.gc_threshold, older, oldest)


def settle() -> None:
    """Collect once, then freeze every object left (called after a load, before ready)."""
    if _serving_process:
        gc.collect()
        gc.freeze()


def release() -> None:
    """After a model was dropped: collect it, frozen or not, and freeze what is still alive."""
    if _serving_process:
        gc.unfreeze()
        gc.collect()
        gc.freeze()


__all__ = ["configure", "release", "settle"]
