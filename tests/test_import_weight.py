"""The control plane starts with the core dependencies only: importing the server, the SDK, the
tables or the CLI loads none of the numerical stack (the ``monitoring``/``evaluation`` extras).

Each import runs in a fresh interpreter with a ``builtins.__import__`` hook that records, for the
first import of each heavy package, the chain of modules that led to it; a failure prints that
chain, so it names the module to fix (move the import into the function that needs it, or behind
``TYPE_CHECKING``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

HEAVY = ("numpy", "scipy", "pandas", "pyarrow", "duckdb", "matplotlib", "sklearn")
ENTRY_POINTS = ("shipyard.server.app", "shipyard.client", "shipyard.tables", "shipyard.cli.main")

PROBE = textwrap.dedent(
    """
    import builtins, importlib, json, sys

    heavy, entry = set(sys.argv[1].split(",")), sys.argv[2]
    original, stack, chains = builtins.__import__, [], {}

    def traced(name, globals=None, locals=None, fromlist=(), level=0):
        importer = (globals or {}).get("__name__", "?")
        top = name.split(".")[0] if level == 0 else ""
        if top in heavy and top not in sys.modules and top not in chains:
            chains[top] = [*stack, f"{importer} imports {name}"]
        stack.append(f"{importer} imports {name if level == 0 else '.' * level + name}")
        try:
            return original(name, globals, locals, fromlist, level)
        finally:
            stack.pop()

    builtins.__import__ = traced
    importlib.import_module(entry)
    loaded = sorted(m for m in heavy if m in sys.modules)
    print(json.dumps({"loaded": loaded, "chains": {m: chains.get(m, ["(not through import)"]) for m in loaded}}))
    """
)


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_importing_the_control_plane_loads_no_numerical_package(entry: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, ",".join(HEAVY), entry], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    chains = "\n".join(f"{m}:\n  " + "\n  ".join(chain) for m, chain in found["chains"].items())
    assert found["loaded"] == [], (
        f"importing {entry} loads {', '.join(found['loaded'])}; the import chains (the last shipyard module in each "
        f"is the one to fix; shipyard.evaluation.* and shipyard.gates.* belong to the evaluation/gates work):\n{chains}"
    )
