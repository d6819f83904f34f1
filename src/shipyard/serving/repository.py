"""Which models a server hosts, and the Open Inference Protocol's model repository
extension: list, load and unload models while the server runs.

A server knows the models it was started with (``shipyard serve MODEL…``) and, given a
model repository directory (``--model-repository DIR``), every model directory in it:
``DIR/<name>/`` holds a Shipyard or MLflow model, served as ``<name>`` at its content
version (the start of its manifest's sha256). Those are loaded only when asked: at start
(``--load NAME``, ``--load-all``) or through the load endpoint. A model named at start
wins over a directory of the same name.

- ``POST /v2/repository/index``: every known model version as ``{"name", "version",
  "state", "reason"}``; ``state`` is ``READY``, ``LOADING``, ``UNLOADING`` or
  ``UNAVAILABLE`` (``reason`` says why: ``not loaded``, ``unloaded``, ``evicted …``,
  ``failed to load: …``). ``{"ready": true}`` lists only the ready ones.
- ``POST /v2/repository/models/{name}/load``: loads (verifies, warms up) every version of
  ``name`` that is not loaded (a directory model: its current content) and answers its
  entries once it is ready; a no-op 200 if it is loaded already. 404 for a name neither
  served nor in the directory; the load's own error if it fails (the model then stays
  unavailable and no longer holds readiness back).
- ``POST /v2/repository/models/{name}/unload``: the model stops being ready at once, new
  requests for it get 503 while in-flight ones finish, then it is released (references
  dropped, ``gc.collect()``) and requests get 404 (it is gone from ``/v1/models``).
  A no-op 200 for a model that is not loaded; 404 for an unknown name.

**Memory budget** (``ServingSettings.memory_budget_mb``). Before a load, the model's
estimated size (:mod:`shipyard.serving.memory`) must fit beside the estimates of the
models loaded or being unloaded (loads run one at a time, in the order asked). If it
does not, the least recently used models that are ready, idle (nothing in flight), not
pinned and not busy with a load or an unload of their own are evicted, oldest first, as
few as needed; if even all of them would not make room, the load is refused with 507
``INSUFFICIENT_MEMORY`` naming the budget, the use and the need. Models named at start
never evict each other: they must fit together, and one that does not fit fails to load
(``shipyard serve`` then exits 1).

**Order.** One load or unload at a time per model name (they run in arrival order), and
one load at a time server-wide (so a load's RSS growth is its own). Unloading a model
that is still loading waits for the load to finish.

**Readiness.** ``/v2/health/ready`` is true when every model asked to be loaded (at start
or through the load endpoint, and not unloaded since) is ready: it is false while a load
through the API runs. Per-model readiness is ``/v2/models/{name}/ready``.

**Worker processes** (``--workers N``): the models are loaded before the workers fork and
are fixed from then on; load and unload answer 409 (each worker would otherwise diverge).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
from collections.abc import Callable, Collection
from pathlib import Path

from shipyard.errors import Conflict, InvalidArgument, NotFound, ShipyardError
from shipyard.logging import get_logger
from shipyard.serving import heap
from shipyard.serving.batching import ComputeThread
from shipyard.serving.errors import InsufficientMemory, ModelFailed
from shipyard.serving.memory import MIB, mib, plan_eviction
from shipyard.serving.metrics import ServingMetrics
from shipyard.serving.model import ServedModel, content_version, is_model_name, manifest_file
from shipyard.serving.runtime import ModelRuntime
from shipyard.serving.settings import ServingSettings

log = get_logger("shipyard.serving")
LoadFailure = Callable[[ModelRuntime], None]
Entry = dict[str, str]


class ModelDirectory:
    """A model repository directory: each subdirectory a model directory, loadable by its
    name. ``load`` (or ``load_all``) names the ones to load when the server starts;
    ``pinned`` the ones never evicted."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        allow_pickle: bool = True,
        pinned: Collection[str] = (),
        load: Collection[str] = (),
        load_all: bool = False,
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise NotFound(f"no model repository directory at '{self.root}'", {"path": str(self.root)})
        self.allow_pickle = allow_pickle
        self.pinned = frozenset(pinned)
        self.at_start = self.names() if load_all else list(dict.fromkeys(load))
        for name in self.at_start:
            if not self.has(name):
                raise NotFound(
                    f"the model repository '{self.root}' has no model '{name}'; it has {self.names()}",
                    {"model": name, "path": str(self.root)},
                )

    def names(self) -> list[str]:
        """The models in the directory now."""
        try:
            entries = list(os.scandir(self.root))
        except OSError:
            return []
        return sorted(entry.name for entry in entries if self.has(entry.name))

    def has(self, name: str) -> bool:
        path = self.root / name
        return is_model_name(name) and path.is_dir() and manifest_file(path) is not None

    def served(self, name: str) -> ServedModel | None:
        """The model ``name`` as its directory holds it now; None if there is none."""
        if not self.has(name):
            return None
        path = self.root / name
        return ServedModel.from_path(path, name=name, allow_pickle=self.allow_pickle, pinned=name in self.pinned)

    def version(self, name: str) -> str:
        try:
            return content_version(self.root / name)
        except (OSError, ShipyardError):
            return ""


class ModelRepository:
    """Every model version the server knows, by name, and their lifecycle (see the module
    docstring). Lookups, state changes and decisions run on the event loop; loads run on
    one loader thread."""

    def __init__(
        self,
        models: list[ServedModel],
        settings: ServingSettings,
        metrics: ServingMetrics,
        directory: ModelDirectory | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.directory = directory
        self.budget = None if settings.memory_budget_mb is None else int(settings.memory_budget_mb * MIB)
        self.fixed: str | None = None  # why load and unload are refused (worker processes), or None
        self._by_name: dict[str, dict[str, ModelRuntime]] = {}
        self._startup = [self._add(served) for served in models]
        if directory is not None:
            for name in directory.at_start:
                served = directory.served(name)
                if served is not None and name not in self._by_name:  # a model named at start wins
                    self._startup.append(self._add(served, from_directory=True))
        self._locks: dict[str, asyncio.Lock] = {}
        self._load_lock = asyncio.Lock()
        self._loader: ComputeThread | None = None
        self._startup_task: asyncio.Task[None] | None = None
        self._stopping = False
        if self.budget is not None:
            metrics.memory_budget.set(self.budget)
        metrics.sample_with(self.sample_gauges)

    def sample_gauges(self) -> None:
        for runtime in self.runtimes():
            runtime.sample_gauges()

    def _add(self, served: ServedModel, *, from_directory: bool = False) -> ModelRuntime:
        versions = self._by_name.setdefault(served.name, {})
        if served.version in versions:
            raise InvalidArgument(
                f"model '{served.name}' version '{served.version}' is listed twice", {"field": "models"}
            )
        runtime = ModelRuntime(served, self.settings, self.metrics, from_directory=from_directory)
        versions[served.version] = runtime  # the last one added answers unversioned requests
        return runtime

    def _lock(self, name: str) -> asyncio.Lock:
        lock = self._locks.get(name)
        if lock is None:
            lock = self._locks[name] = asyncio.Lock()
        return lock

    # -- lookup --------------------------------------------------------------------------
    def runtimes(self) -> list[ModelRuntime]:
        """Every known version, loaded or not."""
        return [runtime for versions in self._by_name.values() for runtime in versions.values()]

    def names(self) -> list[str]:
        """The names with a version requests can find."""
        return sorted(name for name, versions in self._by_name.items() if any(r.hosted for r in versions.values()))

    def versions(self, name: str) -> list[str]:
        return sorted(version for version, r in self._by_name.get(name, {}).items() if r.hosted)

    def runtime(self, name: str, version: str | None = None) -> ModelRuntime:
        """The version answering a request: 404 for an unknown or unloaded model or version."""
        versions = self._by_name.get(name)
        if versions:
            if version is None:
                found = next((r for r in reversed(versions.values()) if r.hosted), None)
            else:
                found = versions.get(version)
                if found is None:
                    raise NotFound(
                        f"model '{name}' has no version '{version}'; served versions: {self.versions(name)}",
                        {"model": name, "version": version},
                    )
            if found is not None and found.hosted:
                return found
            label = name if version is None else f"{name}/{version}"
            raise NotFound(
                f"model '{label}' is not loaded; load it with POST /v2/repository/models/{name}/load",
                {"model": name, "version": version, "state": "UNAVAILABLE"},
            )
        if self.directory is not None and self.directory.has(name):
            raise NotFound(
                f"model '{name}' is in the model repository but not loaded; "
                f"load it with POST /v2/repository/models/{name}/load",
                {"model": name, "state": "UNAVAILABLE"},
            )
        raise NotFound(f"model '{name}' is not served here; served models: {self.names()}", {"model": name})

    @property
    def ready(self) -> bool:
        """Every model asked to be loaded (and not unloaded since) is ready."""
        return all(runtime.ready for runtime in self.runtimes() if runtime.wanted)

    def index(self, *, ready_only: bool = False) -> list[Entry]:
        """The repository index: every known version, and every directory model not loaded yet."""
        entries = {(r.name, r.version): r.index_entry() for r in self.runtimes()}
        if self.directory is not None:
            for name in self.directory.names():
                if name not in self._by_name:
                    version = self.directory.version(name)
                    entries[(name, version)] = _not_loaded(name, version)
        rows = [entries[key] for key in sorted(entries)]
        return [row for row in rows if row["state"] == "READY"] if ready_only else rows

    def _entries(self, name: str) -> list[Entry]:
        versions = self._by_name.get(name)
        if not versions:
            return [_not_loaded(name, self.directory.version(name) if self.directory is not None else "")]
        return [versions[version].index_entry() for version in sorted(versions)]

    def memory_used(self, exclude: ModelRuntime | None = None) -> int:
        """The estimated bytes of the models loaded and being unloaded (loads run one at a
        time: the one being loaded is the caller's)."""
        return sum(r.memory_bytes for r in self.runtimes() if r is not exclude and r.state in ("ready", "unloading"))

    # -- start and stop --------------------------------------------------------------------
    def preload(self) -> list[ModelRuntime]:
        """Load the start models here and now, on this thread (``--workers``: in the parent,
        before it forks; nothing else runs). The ones that failed."""
        for runtime in self._startup:
            if runtime.state == "loading" and self._reserve(runtime, evict=False) is not None:
                runtime.load()
                if runtime.ready:
                    self._account(runtime)
        return [runtime for runtime in self._startup if runtime.state == "failed"]

    async def start(self, on_load_failure: LoadFailure | None = None) -> None:
        """Start the batchers, and load the start models not loaded yet in the background
        (the server answers liveness meanwhile)."""
        self._loader = ComputeThread("shipyard-model-loader")
        for runtime in self._startup:
            if runtime.state in ("loading", "ready"):
                runtime.batcher.start()
        pending = [runtime for runtime in self._startup if runtime.state == "loading"]
        if pending:
            self._startup_task = asyncio.get_running_loop().create_task(self._load_startup(pending, on_load_failure))

    async def _load_startup(self, pending: list[ModelRuntime], on_load_failure: LoadFailure | None) -> None:
        for runtime in pending:
            async with self._lock(runtime.name):
                if self._stopping:
                    return
                if runtime.state == "loading":  # else unloaded meanwhile
                    await self._load(runtime, evict=False)
            if not runtime.ready and on_load_failure is not None:
                on_load_failure(runtime)

    async def stop(self) -> None:
        self._stopping = True
        if self._startup_task is not None:
            self._startup_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._startup_task
        for runtime in self.runtimes():
            if runtime.state == "ready":
                runtime.state = "stopped"
            await runtime.batcher.stop()
        if self._loader is not None:
            self._loader.stop()
            self._loader = None

    # -- load and unload -------------------------------------------------------------------
    async def load(self, name: str) -> list[Entry]:
        """Load every version of ``name`` not loaded; its index entries once done."""
        self._check_dynamic()
        async with self._lock(name):
            for runtime in self._to_load(name):
                await self._load(runtime, evict=True)
                if not runtime.ready:
                    error = runtime.load_error
                    runtime.release(f"failed to load: {runtime.error}")
                    if isinstance(error, ShipyardError):
                        raise error
                    raise ModelFailed(
                        f"model '{runtime.label}' failed to load: {runtime.error}",
                        {"model": runtime.name, "version": runtime.version},
                    )
            return self._entries(name)

    def _to_load(self, name: str) -> list[ModelRuntime]:
        """The versions of ``name`` to load; a directory model's current content replaces
        an older one that is not loaded."""
        versions = self._by_name.get(name, {})
        if self.directory is not None and all(r.from_directory for r in versions.values()):
            served = self.directory.served(name)
            if served is not None and served.version not in versions:
                for version in [v for v, r in versions.items() if not r.hosted]:
                    del versions[version]
                self._add(served, from_directory=True)
                versions = self._by_name[name]
        if not versions:
            where = f" nor in the model repository '{self.directory.root}'" if self.directory is not None else ""
            raise NotFound(f"model '{name}' is neither served here{where}", {"model": name})
        return [runtime for runtime in versions.values() if not runtime.ready]

    async def unload(self, name: str) -> list[Entry]:
        """Unload every version of ``name``: not ready at once, released once idle."""
        self._check_dynamic()
        if name not in self._by_name:
            if self.directory is not None and self.directory.has(name):
                return self._entries(name)  # known, and not loaded: nothing to do
            raise NotFound(f"model '{name}' is not served here; served models: {self.names()}", {"model": name})
        async with self._lock(name):
            targets = [runtime for runtime in self._by_name[name].values() if runtime.hosted]
            for runtime in targets:
                runtime.state = "unloading"
            for runtime in targets:
                await self._release(runtime, "unloaded")
            return self._entries(name)

    def _check_dynamic(self) -> None:
        if self.fixed is not None:
            raise Conflict(self.fixed, {"field": "workers"})

    async def _load(self, runtime: ModelRuntime, *, evict: bool) -> None:
        """Make room, load on the loader thread, account; leaves ``runtime`` ready or failed."""
        async with self._load_lock:
            victims = self._reserve(runtime, evict=evict)
            if victims is None:
                return
            await self._evict(victims, runtime)
            runtime.state = "loading"
            runtime.batcher.start()
            assert self._loader is not None, "start() first"
            await self._loader.run(runtime.load)
            if runtime.ready:
                self._account(runtime)
            else:
                await runtime.batcher.stop()

    def _reserve(self, runtime: ModelRuntime, *, evict: bool) -> list[ModelRuntime] | None:
        """The models to evict so that ``runtime`` fits the budget; None (and ``runtime``
        failed, with the reason) if it cannot fit."""
        try:
            return self._make_room(runtime, evict=evict)
        except InsufficientMemory as exc:
            runtime.state, runtime.error, runtime.load_error = "failed", exc.message, exc
            log.error("model does not fit the memory budget", model=runtime.label, error=exc.message)
            return None

    def _make_room(self, runtime: ModelRuntime, *, evict: bool) -> list[ModelRuntime]:
        if self.budget is None:
            return []
        need = runtime.memory_bytes
        used = self.memory_used(exclude=runtime)
        candidates: list[tuple[ModelRuntime, int]] = []
        if evict:
            idle = [
                r
                for r in self.runtimes()
                if r is not runtime and r.ready and r.active == 0 and not r.pinned and not self._lock(r.name).locked()
            ]
            candidates = [(r, r.memory_bytes) for r in sorted(idle, key=lambda r: r.last_used)]
        victims = plan_eviction(budget=self.budget, used=used, need=need, candidates=candidates)
        if victims is not None:
            return victims
        freeable = sum(size for _, size in candidates)
        if not evict:
            why = "the models named at start must fit together"
        elif candidates:
            why = f"evicting every idle, unpinned model would free only {mib(freeable)}"
        else:
            why = "no loaded model can be evicted (each is pinned, busy or in flight)"
        raise InsufficientMemory(
            f"model '{runtime.label}' needs an estimated {mib(need)} but {mib(used)} of the "
            f"{mib(self.budget)} memory budget is in use, and {why}",
            {"budget_bytes": self.budget, "used_bytes": used, "need_bytes": need, "evictable_bytes": freeable},
        )

    async def _evict(self, victims: list[ModelRuntime], cause: ModelRuntime) -> None:
        names = list(dict.fromkeys(victim.name for victim in victims))
        for victim in victims:
            victim.state = "unloading"  # before any await: no request is admitted from now on
        for name in names:
            await self._lock(name).acquire()  # free (see _make_room), so taken without suspending
        try:
            for victim in victims:
                memory_mib = round(victim.memory_bytes / MIB, 1)
                log.info("evicting model", model=victim.label, memory_mib=memory_mib, to_load=cause.label)
                await self._release(victim, f"evicted to make room for '{cause.label}' (memory budget)")
                self.metrics.evictions.labels(victim.name, victim.version).inc()
        finally:
            for name in names:
                self._lock(name).release()

    async def _release(self, runtime: ModelRuntime, note: str) -> None:
        runtime.state = "unloading"
        await runtime.wait_idle()
        await runtime.batcher.stop()
        runtime.release(note)
        self.metrics.model_memory.remove(runtime.name, runtime.version)
        self.metrics.loaded_models.set(sum(r.ready for r in self.runtimes()))
        if self.settings.gc_freeze:
            heap.release()  # its objects were frozen at load: unfreeze, collect, freeze the rest
        else:
            gc.collect()
        log.info("model unloaded", model=runtime.label, reason=note)

    def _account(self, runtime: ModelRuntime) -> None:
        self.metrics.model_memory.labels(runtime.name, runtime.version).set(runtime.memory_bytes)
        self.metrics.loaded_models.set(sum(r.ready for r in self.runtimes()))
        used = self.memory_used()
        if self.budget is not None and used > self.budget:
            log.warning(
                "models exceed the memory budget: a load measured more than its estimate",
                model=runtime.label,
                used_mib=round(used / MIB, 1),
                budget_mib=round(self.budget / MIB, 1),
            )


def _not_loaded(name: str, version: str) -> Entry:
    return {"name": name, "version": version, "state": "UNAVAILABLE", "reason": "not loaded"}


__all__ = ["LoadFailure", "ModelDirectory", "ModelRepository"]
