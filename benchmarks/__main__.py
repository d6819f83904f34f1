"""Run every benchmark in this package, one after the other: ``python -m benchmarks``.

    .venv/bin/python -m benchmarks                      # all of them (what ``make bench`` runs)
    .venv/bin/python -m benchmarks logging_throughput   # only the ones named
    .venv/bin/python -m benchmarks serving              # a package: benchmarks/serving/

A benchmark is a module or a subpackage of this package (not starting with ``_``) with a
``main(argv)`` function (a subpackage exports it from its ``__init__``, e.g. ``serving``);
each runs with its defaults and writes its own ``benchmarks/results/<name>.*``.
A failing benchmark is reported and the others still run; the exit status is non-zero if
any failed.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).parent


def discover() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules([str(PACKAGE)]) if not m.name.startswith("_"))


def run_one(name: str) -> tuple[str, float]:
    """Run one benchmark; return its outcome (ok, failed, skipped: why) and seconds taken."""
    started = time.monotonic()
    try:
        module = importlib.import_module(f"{__package__ or 'benchmarks'}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.endswith(f".{name}"):
            return "skipped: not present", 0.0
        traceback.print_exc()
        return f"failed: cannot import ({exc})", 0.0
    main: Callable[[list[str]], Any] | None = getattr(module, "main", None)
    if not callable(main):
        return "skipped: no main()", 0.0
    try:
        status = main([])
    except SystemExit as exc:
        status = exc.code
    except Exception as exc:  # one broken benchmark must not stop the others
        traceback.print_exc()
        return f"failed: {type(exc).__name__}: {exc}", time.monotonic() - started
    outcome = "ok" if status in (None, 0) else f"failed: exit status {status}"
    return outcome, time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    available = discover()
    unknown = [a for a in args if a not in available]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available)}", file=sys.stderr)
        return 2
    outcomes: dict[str, tuple[str, float]] = {}
    for name in args or available:
        print(f"\n=== benchmark: {name} ===", flush=True)
        outcomes[name] = run_one(name)
    print("\n=== benchmarks ===")
    for name, (outcome, seconds) in outcomes.items():
        print(f"{name:24} {outcome} ({seconds:.0f} s)")
    return 1 if any(o.startswith("failed") for o, _ in outcomes.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
