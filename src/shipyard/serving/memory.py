"""How much memory a model takes, and which models to evict to stay within a budget.

The budget (``ServingSettings.memory_budget_mb``) counts the models' *estimated*
resident sizes, not the whole process: the interpreter, the libraries already imported
and the request buffers are the baseline it sits on. A model's estimate is

- before its first load: the size of its directory on disk;
- once loaded: the larger of that and how much the process's resident set size (RSS)
  grew across its load and warm-up. Loads run one at a time, so the growth is this
  model's (plus whatever requests allocated meanwhile). Memory an earlier unload freed
  and the allocator reuses does not show as growth, hence the floor of the on-disk size.

The first load of a flavor also imports its library (xgboost, onnxruntime…), which is
counted in that model's growth and is not given back when it is unloaded.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
MIB = 1024 * 1024
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes() -> int | None:
    """This process's resident set size now; None where the platform does not say (it
    is read from ``/proc/self/statm``, so Linux only)."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


def directory_bytes(path: Path | None) -> int:
    """The total size of the files under ``path`` (0 when unknown)."""
    if path is None:
        return 0
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def plan_eviction(*, budget: int, used: int, need: int, candidates: Sequence[tuple[T, int]]) -> list[T] | None:
    """Which ``candidates`` (in eviction order, each with its size) to release so that
    ``need`` more bytes fit in ``budget`` with ``used`` taken: the fewest from the front;
    ``[]`` if it fits already; None if releasing all of them is not enough."""
    chosen: list[T] = []
    for item, size in candidates:
        if used + need <= budget:
            break
        chosen.append(item)
        used -= size
    return chosen if used + need <= budget else None


def mib(n: int) -> str:
    """Bytes as MiB, for messages."""
    return f"{n / MIB:.1f} MiB"


__all__ = ["MIB", "directory_bytes", "mib", "plan_eviction", "resident_bytes"]
